"""python -m services.console"""

from services.console.app import SERVICE, build
from services.console.server import main
from services.console.settings import ConsoleSettings

if __name__ == "__main__":
    main(SERVICE, ConsoleSettings, build)
