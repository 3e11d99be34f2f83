"""python -m services.query"""

from services.query.app import SERVICE, build
from services.query.settings import QuerySettings
from shared.runtime import main

if __name__ == "__main__":
    main(SERVICE, QuerySettings, build)
