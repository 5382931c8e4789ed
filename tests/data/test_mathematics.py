"""Math problems: answers re-computed from the question text by an independent evaluator, loss mask on answers
only, no held-out problem seen in training, extrapolation outside the training difficulty."""

from __future__ import annotations

import ast
import re
from fractions import Fraction

import numpy as np
import pytest

from scalesearch.data.domain import DataError
from scalesearch.data.mathematics import ALPHABET, MathDomain, encode, problem_text


def evaluate(expression: str, x: Fraction | None = None) -> Fraction:
    """Integer arithmetic with + - * ** and x, evaluated from the syntax tree (no eval, no generator code)."""

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return Fraction(node.value)
        if isinstance(node, ast.Name) and node.id == "x" and x is not None:
            return x
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.BinOp):
            left, right = walk(node.left), walk(node.right)
            ops = {ast.Add: lambda: left + right, ast.Sub: lambda: left - right, ast.Mult: lambda: left * right,
                   ast.Pow: lambda: left ** int(right)}
            return ops[type(node.op)]()
        raise AssertionError(f"unexpected syntax {ast.dump(node)} in {expression!r}")

    return walk(ast.parse(expression, mode="eval").body)


def solve(question: str) -> tuple[str, str]:
    """(module, answer) of a question, computed independently of the generator."""
    if m := re.fullmatch(r"What is (.+)\?", question):
        return "arithmetic", str(evaluate(m[1]))
    if m := re.fullmatch(r"Let f\(x\) = (.+)\. What is f\((-?\d+)\)\?", question):
        return "polynomial", str(evaluate(m[1], Fraction(int(m[2]))))
    if m := re.fullmatch(r"Solve (.+) = (.+) for x\.", question):
        def residual(x: int) -> Fraction:
            return evaluate(m[1], Fraction(x)) - evaluate(m[2], Fraction(x))
        root = -residual(0) / (residual(1) - residual(0))
        assert residual(root) == 0 and root.denominator == 1, question
        return "linear_equation", str(root)
    if m := re.fullmatch(r"Which is greater: (-?\d+)/(\d+) or (-?\d+)/(\d+)\?", question):
        a, b = Fraction(int(m[1]), int(m[2])), Fraction(int(m[3]), int(m[4]))
        return "comparison", f"{m[1]}/{m[2]}" if a > b else f"{m[3]}/{m[4]}"
    raise AssertionError(f"unknown question {question!r}")


def size(module: str, question: str) -> int:
    """The size each module fixes by difficulty: integers, degree, terms, digits."""
    if module == "arithmetic":
        return len(re.findall(r"\d+", question))
    if module == "polynomial":
        powers = [int(p) for p in re.findall(r"x\*\*(\d+)", question)]
        return max(powers, default=1)
    if module == "linear_equation":
        body = question[len("Solve "):-len(" for x.")]
        return sum(len(re.findall(r"(?:^|[=+] |- )-?\d", side.strip())) for side in body.split(" = "))
    return len(re.search(r"/(\d+)", question)[1])


def problems_from_rows(domain: MathDomain, split: str) -> list[tuple[str, str]]:
    """(question, answer) pairs read back from the stored tokens, using the part ids to find the answers."""
    pairs = []
    for block in domain.generate(split):
        for tokens, parts in zip(block.tokens, block.parts):
            text = domain.decode(tokens)
            answers = domain.decode(tokens[parts == 1]).split("\n")[:-1]
            questions = re.findall(r"Q: (.*)\nA: ", text)
            assert len(questions) == len(answers)
            pairs += zip(questions, answers)
    return pairs


def test_answers_match_an_independent_evaluation(small_math):
    pairs = problems_from_rows(small_math, "heldout") + problems_from_rows(small_math, "sweep_s19")
    modules = set()
    for question, answer in pairs:
        module, expected = solve(question)
        modules.add(module)
        assert answer == expected, question
    assert modules == {"arithmetic", "polynomial", "linear_equation", "comparison"}


def test_loss_mask_counts_exactly_the_answers(small_math):
    block = next(small_math.generate("train"))
    for tokens, parts in zip(block.tokens[:50], block.parts[:50]):
        text = small_math.decode(tokens)
        counted = small_math.decode(tokens[parts == 1])
        expected = "".join(m + "\n" for m in re.findall(r"\nA: ([^\n]*)\n", text))
        assert counted == expected
        assert set(np.unique(parts)) <= {0, 1}
        assert not np.any(parts[tokens == 0])  # padding is never counted


def test_no_heldout_or_eval_problem_occurs_in_train(small_math):
    train = {q for q, _ in small_math.problems("train")}
    for split in small_math.splits()[1:]:
        questions = {q for q, _ in small_math.problems(split)}
        assert questions and not questions & train, split


def test_extrapolation_lies_outside_the_training_difficulty(small_math):
    train, extrapolate = module_sizes(small_math, "train"), module_sizes(small_math, "extrapolate")
    for module, values in extrapolate.items():
        assert min(values) > max(train[module]), module
    interpolate = module_sizes(small_math, "interpolate")["arithmetic"]
    assert interpolate and max(interpolate) <= max(train["arithmetic"])
    assert (small_math.interpolate, small_math.extrapolate) == (8, 12)  # Henighan et al. 2020 (DESIGN §2)


def test_generation_is_deterministic_by_seed():
    a, b = (MathDomain(train_problems=200, heldout_problems=20, seed=1) for _ in range(2))
    c = MathDomain(train_problems=200, heldout_problems=20, seed=2)
    assert a.problems("train") == b.problems("train") != c.problems("train")
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_eval_splits_and_tokens_per_problem(small_math):
    assert small_math.eval_splits() == ["interpolate", "extrapolate"]
    assert small_math.final_eval_splits() == [f"sweep_s{s:02d}" for s in range(1, 20)]
    answers = [a for _, a in small_math.problems("heldout")]
    assert small_math.tokens_per_item["answer"] == pytest.approx(np.mean([len(a) + 1 for a in answers]))


def test_problem_longer_than_a_sequence_is_a_clear_error():
    with pytest.raises(DataError, match="raise seq_len"):
        list(MathDomain(seq_len=32, train_problems=10, heldout_problems=5).generate("sweep_s19"))


def test_every_character_of_every_difficulty_is_a_token_and_decodes_back():
    """The compact alphabet holds what every module writes at s = 1..19, and nothing outside it passes."""
    domain = MathDomain(train_problems=10, heldout_problems=5, eval_problems=60)
    for s in range(1, 20):
        for question, answer in domain.problems(f"sweep_s{s:02d}"):
            text = "".join(problem_text(question, answer))
            assert domain.decode(encode(text)) == text
    assert max(encode(ALPHABET)) == domain.vocab_size - 1 < 128
    with pytest.raises(DataError, match="'#' is not in the math alphabet"):
        encode("What is 2 # 3?")


def test_unknown_module_or_split_is_rejected(small_math):
    with pytest.raises(DataError, match="unknown modules"):
        MathDomain(modules=["calculus"])
    with pytest.raises(DataError, match="no split"):
        small_math.problems("sweep_s40")


def test_difficulty_moves_the_training_range_and_the_eval_difficulties_with_it():
    default = MathDomain(train_problems=400, heldout_problems=40, eval_problems=40)
    assert default.train_difficulty == (3, 10)
    assert "difficulty" not in default.options()  # the default's data and cache key are unchanged
    assert MathDomain(train_problems=400, heldout_problems=40, eval_problems=40,
                      difficulty=[3, 10]).fingerprint() == default.fingerprint()

    easy = MathDomain(train_problems=400, heldout_problems=40, eval_problems=40, difficulty=[1, 4])
    assert (easy.interpolate, easy.extrapolate) == (2, 8)
    assert easy.options()["difficulty"] == [1, 4] and easy.fingerprint() != default.fingerprint()

    train, extrapolate = module_sizes(easy, "train"), module_sizes(easy, "extrapolate")
    assert max(train["arithmetic"]) < max(module_sizes(default, "train")["arithmetic"])  # easier than the default
    for module, values in extrapolate.items():
        assert min(values) > max(train[module]), module
    for module, values in module_sizes(easy, "interpolate").items():
        assert max(values) <= max(train[module]), module


def module_sizes(domain: MathDomain, split: str) -> dict[str, list[int]]:
    """Each module's sizes in ``split``, every answer checked by the independent evaluator on the way."""
    by_module: dict[str, list[int]] = {}
    for question, answer in domain.problems(split):
        module, expected = solve(question)
        assert answer == expected, question
        by_module.setdefault(module, []).append(size(module, question))
    return by_module


@pytest.mark.parametrize("difficulty", [[0, 4], [5, 4], [3], [1.5, 4], [3, 16]])
def test_bad_difficulty_is_rejected(difficulty):
    with pytest.raises(DataError, match="difficulty"):
        MathDomain(difficulty=difficulty)
