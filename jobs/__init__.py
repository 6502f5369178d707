"""The worker process and the command line: thin jobs that build a connector and call core."""
