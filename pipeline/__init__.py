"""The pure core of Revos and its ports, by product area: no I/O, and nothing from agents/, projections/, gateway/ or infra/."""
