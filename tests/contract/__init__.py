"""The read-only contract suite: the same checks against the emulator or the real Infomaniak."""
