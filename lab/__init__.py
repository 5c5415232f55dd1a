"""dockhand lab: systemd containers that stand in for servers (python -m lab)."""
