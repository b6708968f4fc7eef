"""The one kind of problem the extension reports."""


class InfillError(Exception):
    """A problem the artist can fix (no camera, no Depth pass, a missing model...): reported
    in Blender's status bar or by the headless command, never raised into Blender."""
