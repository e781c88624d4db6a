import sys

# Dies before the SDK starts, as a plugin with a missing dependency or a bad setting does.
print("crashloop: cannot start: the setting CRASHLOOP_TOKEN is missing", file=sys.stderr)
sys.exit(3)
