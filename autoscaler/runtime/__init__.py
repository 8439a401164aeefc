"""Process wiring shared by the cloud daemon and the edge agent."""
