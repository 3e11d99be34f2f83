"""python -m services.system_executor"""

from services.system_executor.app import SERVICE, build
from services.system_executor.settings import ExecutorSettings
from shared.runtime import main

if __name__ == "__main__":
    main(SERVICE, ExecutorSettings, build)
