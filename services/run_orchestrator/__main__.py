"""python -m services.run_orchestrator"""

from services.run_orchestrator.app import SERVICE, build
from services.run_orchestrator.settings import OrchestratorSettings
from shared.runtime import main

if __name__ == "__main__":
    main(SERVICE, OrchestratorSettings, build)
