"""The demo's sample testset: arithmetic and capital-city questions with known answers."""

from __future__ import annotations

import random
from typing import Any

CAPITALS = {
    "France": "Paris",
    "Germany": "Berlin",
    "Italy": "Rome",
    "Spain": "Madrid",
    "Portugal": "Lisbon",
    "Japan": "Tokyo",
    "Canada": "Ottawa",
    "Australia": "Canberra",
    "Brazil": "Brasília",
    "Egypt": "Cairo",
    "Kenya": "Nairobi",
    "India": "New Delhi",
    "Mexico": "Mexico City",
    "Norway": "Oslo",
    "Sweden": "Stockholm",
    "Finland": "Helsinki",
    "Poland": "Warsaw",
    "Austria": "Vienna",
    "Greece": "Athens",
    "Turkey": "Ankara",
    "Chile": "Santiago",
    "Peru": "Lima",
    "Argentina": "Buenos Aires",
    "Vietnam": "Hanoi",
    "Thailand": "Bangkok",
    "Ireland": "Dublin",
    "Switzerland": "Bern",
    "Morocco": "Rabat",
    "Nigeria": "Abuja",
    "New Zealand": "Wellington",
}


def sample_testcases(count: int = 240, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` testcases: one in six asks for a capital, the rest are arithmetic."""
    rng = random.Random(seed)
    countries = sorted(CAPITALS)
    cases: list[dict[str, Any]] = []
    for i in range(count):
        if i % 6 == 5:
            country = countries[(i // 6) % len(countries)]
            cases.append(
                {"question": f"What is the capital of {country}?", "answer": CAPITALS[country], "category": "geography"}
            )
        else:
            a, b = rng.randint(2, 99), rng.randint(2, 99)
            op = rng.choice("+-*")
            result = {"+": a + b, "-": a - b, "*": a * b}[op]
            cases.append({"question": f"What is {a} {op} {b}?", "answer": str(result), "category": "arithmetic"})
    return cases
