"""python -m services.demo_system — the demo AI system."""

from services.demo_system.app import main

if __name__ == "__main__":
    main()
