"""The front door for plugin authors."""
