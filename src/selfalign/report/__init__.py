"""What a run did, for people: the funnel table (and, later, the HTML report)."""
