"""The `gridtwin` command line: wires the packages (twin, gateway, firmware_sim, maps) into processes."""
