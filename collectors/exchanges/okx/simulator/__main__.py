"""``python -m collectors.exchanges.okx.simulator``: run the simulator until SIGINT/SIGTERM."""

from collectors.exchanges.okx.simulator.cli import main

if __name__ == "__main__":
    main()
