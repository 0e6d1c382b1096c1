"""The README's demo runs and prints its table."""

from sklearn_siamese import demo


def test_demo_prints_table(capsys):
    demo.main(["--max-epochs", "2", "--episodes", "20"])
    out = capsys.readouterr().out
    assert "| raw pixels |" in out and "| SiameseEmbedder (contrastive) |" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "method" not in line]
    assert len(rows) == 5
    for row in rows:
        seen, unseen = (float(cell) for cell in row.strip("|").split("|")[1:3])
        assert 0.0 <= seen <= 1.0 and 0.0 <= unseen <= 1.0
