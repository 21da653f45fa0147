"""What the demo's synthetic experts write: rationales by contribution and by how likely
they find the event, and the reasons they give for a revision. Pure data: no Django."""

CAPITALS = {
    "ROK": "Seoul",
    "Japan": "Tokyo",
    "Australia": "Canberra",
    "Philippines": "Manila",
    "DPRK": "Pyongyang",
    "US": "Washington",
}
LEADS = {
    "yes": ("Likely.", "More likely than not.", "I expect so.", "Probably.", ""),
    "mid": (
        "Hard to call.",
        "Could go either way.",
        "Genuinely uncertain.",
        "Roughly a coin flip.",
    ),
    "no": ("Unlikely.", "I doubt it.", "I would be surprised.", "Not within this window."),
}
REASONS = {
    "force-posture": {
        "yes": (
            "Seoul would not formally block a move Washington calls essential, whatever it "
            "says in private.",
            "Once US losses mount, the case for pulling USFK air assets becomes hard to resist.",
            "The 2006 strategic flexibility understanding leaves Seoul little formal leverage.",
        ),
        "no": (
            "Any drawdown on the peninsula in a crisis would be politically toxic in Seoul.",
            "North Korea comes first; Seoul will insist USFK stays focused on deterrence at home.",
            "USFK is not built for a Taiwan fight, so Washington may not even ask.",
        ),
    },
    "logistics": {
        "yes": (
            "Korean ports, depots and fuel storage are too useful for the US to do without.",
            "Rear-area support can be framed as alliance business as usual, not joining the war.",
            "Repair and resupply through Korean facilities is the most natural contribution.",
        ),
        "no": (
            "Seoul will fear that visible support makes Korean facilities a PLA target.",
            "China's economic leverage makes even indirect support a hard sell at home.",
            "Without prior alliance planning the arrangements will not be ready in time.",
        ),
    },
    "diplomatic": {
        "yes": (
            "A statement costs little, and Seoul has already used the Taiwan Strait language.",
            "Expect messaging coordinated with Tokyo and Washington from the first days.",
            "Silence would cost more in Washington than words would cost in Beijing.",
        ),
        "no": (
            "Seoul will call for calm and restraint but avoid naming China.",
            "Expect carefully hedged language, not condemnation.",
            "Partisan divides at home make an explicit condemnation this fast unlikely.",
        ),
    },
    "economic": {
        "yes": (
            "If the G7 moves together, Seoul will not want to be the outlier.",
            "Korea joined the Russia sanctions quickly in 2022, which is a precedent.",
            "Some participation is likely, even if narrowly targeted.",
        ),
        "no": (
            "China is still Korea's largest trading partner; the exposure is enormous.",
            "The memory of the THAAD retaliation will make Seoul hesitate.",
            "Quiet non-participation is more likely than formal sanctions.",
        ),
    },
    "humanitarian": {
        "yes": (
            "Humanitarian help is the least controversial contribution and the easiest to "
            "explain to Beijing.",
            "Korean hospitals and airlift capacity make this a natural role.",
            "Seoul will be evacuating its own citizens anyway.",
        ),
        "no": (
            "Even humanitarian roles could be read in Beijing as taking sides.",
            "Capacity will be stretched if the peninsula is on alert.",
        ),
    },
    "maritime": {
        "yes": (
            "A multinational mission spreads the risk and gives political cover.",
            "Open sea lanes are a direct national interest, which makes this easy to justify.",
            "The navy has the ships and years of escort experience.",
        ),
        "no": (
            "Operating close to the PLA Navy is a line {capital} will hesitate to cross early.",
            "Ships will be kept back for home defence while the picture is unclear.",
        ),
    },
    "connectivity": {
        "yes": (
            "This is a low-visibility, high-value contribution that suits Seoul's preferences.",
            "Korean telecom firms have the capacity, and it can be done commercially.",
        ),
        "no": (
            "Hard to do quickly without prior arrangements with Taipei.",
            "Seoul will avoid anything that looks like direct support to Taiwan.",
        ),
    },
    "access": {
        "yes": (
            "{capital} is unlikely to refuse Washington at the decisive moment.",
            "Refusing access would undercut the alliance when it matters most.",
            "The basing arrangements exist for exactly this kind of contingency.",
        ),
        "no": (
            "{capital} will want to avoid becoming a direct target of PLA missiles.",
            "Domestic politics could push a formal decision past the deadline.",
        ),
    },
    "military": {
        "yes": (
            "{capital} would see a war over Taiwan as a direct threat to its own security.",
            "Alliance commitments and recent planning point towards taking part.",
            "Once the US is fighting, staying out becomes very costly for {capital}.",
        ),
        "no": (
            "Combat against China is a very high bar for {capital}.",
            "Expect support roles rather than combat.",
            "Legal and political constraints will slow any decision.",
        ),
    },
    "defense-industrial": {
        "yes": (
            "Korea's munitions industry has spare capacity, and the US will ask for it.",
            "Indirect transfers, as with shells for Ukraine, show a way to do it.",
        ),
        "no": (
            "Seoul has long been reluctant to send lethal aid into an active war.",
            "Stocks will be held back for the peninsula.",
        ),
    },
    "provocation": {
        "yes": (
            "Pyongyang has every incentive to exploit a distracted United States.",
            "Escalating now is a cheap way for Pyongyang to raise its price.",
            "North Korea tends to act when US attention is elsewhere.",
        ),
        "no": (
            "Beijing will probably restrain Pyongyang to keep the focus on Taiwan.",
            "Pyongyang gains more by watching and waiting than by provoking now.",
            "Real escalation would invite a response Pyongyang cannot afford.",
        ),
    },
    "reassurance": {
        "yes": (
            "Washington will move fast to reassure Seoul, and signalling is the quickest tool.",
            "The Nuclear Consultative Group gives a ready channel for this.",
        ),
        "no": (
            "Nuclear signalling in a crisis with China risks escalation; expect conventional "
            "reassurance instead.",
            "Stationing nuclear weapons in Korea is a step the US has resisted for decades.",
        ),
    },
    "nuclear": {
        "yes": (
            "Doubts about US overstretch would make the domestic case for a bomb hard to stop.",
        ),
        "no": (
            "The sanctions risk and the cost to the alliance still outweigh the pressure.",
            "Talk of a Korean bomb is popular, but a government decision is another matter.",
        ),
    },
}
# Korean panelists write in Korean about their own government's choices.
REASONS_KO = {
    "yes": (
        "동맹 관계를 고려하면 참여 가능성이 높다고 봅니다.",
        "미국의 요청이 분명하다면 정부가 거절하기는 어려울 것입니다.",
        "비교적 부담이 적은 기여라서 충분히 가능하다고 판단합니다.",
    ),
    "mid": (
        "상황 전개에 따라 달라질 것 같아 판단하기 어렵습니다.",
        "어느 정부가 집권하고 있느냐에 따라 결과가 크게 달라질 것입니다.",
    ),
    "no": (
        "북한 위협이 여전하므로 정부는 한반도 방위에 집중할 것입니다.",
        "중국의 경제 보복을 우려해 신중하게 대응할 가능성이 큽니다.",
        "국내 정치 상황상 이 기간 안에 결정하기는 어렵다고 봅니다.",
    ),
}
# Calibration questions ask what happened, so their reasons are about memory.
SEED_RECALL = {
    "yes": (
        "I remember this clearly.",
        "Fairly sure, from the coverage at the time.",
        "I believe so, though I have not checked.",
    ),
    "mid": ("I cannot remember for certain.", "Vaguely familiar, but I would not bet on it."),
    "no": ("I don't believe so.", "I would remember if it had.", "Pretty sure not."),
}
NUMERIC_REASONS = {
    "seed": (
        "From memory of recent official figures.",
        "I remember the figure roughly, so the range is wide to be safe.",
        "Fairly sure about this one.",
        "A rough guess; not my area.",
        "I follow this closely, hence the narrow range.",
    ),
    "target": (
        "Depends heavily on how fast the conflict escalates.",
        "My median assumes the peninsula stays quiet.",
        "Long upper tail: if things go badly the numbers rise quickly.",
        "Anchored on past crises and adjusted upwards.",
        "Very uncertain; the range reflects that.",
    ),
}
REVISION_REASONS = (
    "Moved towards the panel after reading the round 1 rationales.",
    "Revised: the point about China's economic leverage was persuasive.",
    "Adjusted slightly; the round 1 spread made me less confident.",
    "Unchanged in substance; I still think the panel underrates the risk.",
)
