"""Pure parsers for the text the Ascend tools print (no subprocesses here; callers run the tools)."""
