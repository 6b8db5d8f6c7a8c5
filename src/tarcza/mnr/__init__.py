"""The MNR tracker: the Model National Response's 21 capabilities, their evidence and actions."""
