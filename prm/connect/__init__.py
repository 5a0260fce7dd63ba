"""Connect: two prm instances share records Salesforce-to-Salesforce style."""
