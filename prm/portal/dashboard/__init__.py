"""The leadership dashboard and the scorecard pages: thin over `prm.scorecards.service`."""
