"""The committee's rules file: its model and its parser."""
