"""The demo's 44 panelists (22 US, 22 ROK): plain descriptions, fixed whatever the seed."""

from dataclasses import dataclass

import numpy as np

from elicitation.demo.content import SECTORS

_US_NAMES = (
    "Emily Carter", "Daniel Brooks", "Rachel Nguyen", "Michael Hayes", "Sarah Whitman",
    "James Okafor", "Laura Bennett", "Christopher Reyes", "Megan Sullivan", "David Feldman",
    "Jennifer Park", "Thomas Avery", "Katherine Lowe", "Robert Chen", "Amanda Pierce",
    "Brian Callahan", "Nicole Foster", "Andrew Kim", "Elizabeth Moran", "Kevin Donovan",
    "Hannah Meyer", "Jonathan Price",
)  # fmt: skip
_ROK_NAMES = (
    "Kim Min-jun", "Lee Seo-yeon", "Park Ji-hoon", "Choi Eun-ji", "Jung Hyun-woo",
    "Kang Soo-jin", "Yoon Tae-ho", "Jang Mi-rae", "Lim Dong-hyun", "Han Ye-jin",
    "Oh Sung-min", "Seo Ji-woo", "Shin Jae-won", "Kwon Hye-rin", "Hwang In-su",
    "Ahn So-young", "Song Kyung-ho", "Ryu Da-eun", "Jeon Woo-jin", "Hong Na-rae",
    "Moon Sang-hoon", "Baek Yu-na",
)  # fmt: skip
# ROK panelists who asked for the Korean interface.
_KOREAN_SPEAKERS = frozenset(
    {"Park Ji-hoon", "Jang Mi-rae", "Oh Sung-min", "Hwang In-su", "Song Kyung-ho", "Moon Sang-hoon"}
)


@dataclass(frozen=True)
class ExpertSpec:
    code: str
    name: str
    email: str
    nationality: str
    sector: str
    language: str
    sim_index: int  # the row of this expert in simulate_binary_panel's output


def _email(name: str, nationality: str) -> str:
    if nationality == "ROK":  # "Kim Min-jun" -> "minjun.kim"
        family, given = name.split(" ", 1)
        return f"{given.replace('-', '').lower()}.{family.lower()}@example.org"
    given, family = name.split(" ", 1)
    return f"{given.lower()}.{family.lower()}@example.org"


def demo_panel() -> list[ExpertSpec]:
    """The 44 panelists in code order; fixed, whatever the answer seed."""
    people = [
        (name, nationality, SECTORS[k % len(SECTORS)], k)
        for nationality, names in (("US", _US_NAMES), ("ROK", _ROK_NAMES))
        for k, name in enumerate(names)
    ]
    # Codes are shuffled once and for all so that they reveal neither cohort nor sector.
    order = np.random.default_rng(20250331).permutation(len(people))
    panel = []
    for number, index in enumerate(order, start=1):
        name, nationality, sector, k = people[index]
        panel.append(
            ExpertSpec(
                code=f"E{number:03d}",
                name=name,
                email=_email(name, nationality),
                nationality=nationality,
                sector=sector,
                language="ko" if name in _KOREAN_SPEAKERS else "en",
                # simulate_binary_panel puts the first cohort's experts first.
                sim_index=k if nationality == "US" else len(_US_NAMES) + k,
            )
        )
    return panel


def demo_korean_expert_code() -> str:
    """The first Korean-speaking panelist, by code (fixed: the panel does not depend on seed)."""
    return next(expert.code for expert in demo_panel() if expert.language == "ko")
