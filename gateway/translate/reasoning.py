"""Reasoning effort levels and thinking-token budgets, converted through one table."""

from __future__ import annotations

from gateway.translate.neutral import Reasoning

# Effort -> thinking budget, after Google's documented OpenAI-compatibility mapping (low 1K, medium 8K,
# high 24K); levels above high get the largest budget Gemini 2.5 Pro accepts.
EFFORT_BUDGET = {"minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768, "max": 32768}
ANTHROPIC_MIN_BUDGET = 1024  # thinking.budget_tokens must be >= 1024
DYNAMIC_BUDGET = EFFORT_BUDGET["medium"]  # stands in for "model decides" where a number is required


def budget_of(reasoning: Reasoning) -> int | None:
    """Thinking tokens to allow: 0 = off, -1 = the model decides, None = not asked."""
    if reasoning.budget is not None:
        return reasoning.budget
    if reasoning.effort == "none":
        return 0
    if reasoning.effort is None:
        return None
    return EFFORT_BUDGET.get(reasoning.effort, EFFORT_BUDGET["medium"])


def effort_of(reasoning: Reasoning) -> str | None:
    """An effort level ("none" = off), or None when the model's default applies."""
    if reasoning.effort is not None:
        return reasoning.effort
    budget = reasoning.budget
    if budget is None or budget < 0:
        return None
    if budget == 0:
        return "none"
    if budget <= EFFORT_BUDGET["low"]:
        return "low"
    if budget <= EFFORT_BUDGET["medium"]:
        return "medium"
    return "high"
