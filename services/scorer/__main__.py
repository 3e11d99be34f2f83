"""python -m services.scorer"""

from services.scorer.app import SERVICE, build
from services.scorer.settings import ScorerSettings
from shared.runtime import main

if __name__ == "__main__":
    main(SERVICE, ScorerSettings, build)
