"""`make demo`: the example application against a real, throwaway PostgreSQL."""

from __future__ import annotations

from generated_example.app import run
from tests.embedded_pg import fresh_database, server


def main() -> None:
    with server() as url, fresh_database(url, prefix="demo") as database:
        for line in run(database):
            print(line)


if __name__ == "__main__":
    main()
