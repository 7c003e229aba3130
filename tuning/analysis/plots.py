"""The analyses as PNG figures and one self-contained HTML page (the images inlined)."""
from __future__ import annotations

import base64
import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from tuning.analysis.checkpoint import Analysis  # noqa: E402

SPECTRA = "spectra.png"
NEGATIVES = "negative_cosines.png"
MATRICES = "gram_covariance.png"
CKA = "cka.png"
PAGE = "analysis.html"


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_spectra(analyses: list[Analysis], path: Path) -> Path:
    """Fig. S5: each checkpoint's covariance singular values, normalised by the largest, log scale."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for a in analyses:
        for ax, spectrum in zip(axes, (a.embedding_spectrum, a.representation_spectrum)):
            ax.semilogy((spectrum / spectrum[0].clamp_min(1e-300)).clamp_min(1e-12).numpy(), label=a.name)
    for ax, what in zip(axes, ("embeddings (projector output)", "representations (backbone output)")):
        ax.set(title=f"covariance spectrum: {what}", xlabel="index", ylabel="singular value / largest")
        ax.title.set_fontsize(9)
    axes[0].legend(fontsize=7)
    return _save(figure, path)


def plot_negative_cosines(analyses: list[Analysis], path: Path) -> Path:
    """Fig. S4: histograms of the cosine similarities between embeddings of different images."""
    figure, ax = plt.subplots(figsize=(6, 3.8))
    for a in analyses:
        ax.hist(a.negative_cosines.numpy(), bins=80, range=(-1, 1), histtype="step", density=True, label=a.name)
    ax.set(title="cosine similarity of negative pairs (embeddings)", xlabel="cosine", ylabel="density")
    ax.legend(fontsize=7)
    return _save(figure, path)


def plot_gram_covariance(analyses: list[Analysis], path: Path) -> Path:
    """Fig. S8: per checkpoint, the Gram matrix of the first samples and the covariance of the
    first dimensions, of the embeddings and of the centred representations (each scaled by its
    largest absolute entry)."""
    figure, axes = plt.subplots(len(analyses), 4, figsize=(12, 3 * len(analyses)), squeeze=False)
    panels = ("embedding Gram (samples)", "embedding covariance (dims)", "centred representation Gram",
              "representation covariance")
    for row, a in zip(axes, analyses):
        matrices = (a.gram, a.covariance, a.representation_gram, a.representation_covariance)
        for ax, matrix, what in zip(row, matrices, panels):
            ax.imshow((matrix / matrix.abs().max().clamp_min(1e-300)).numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
            ax.set_title(f"{a.name}: {what}", fontsize=8)
            ax.axis("off")
    return _save(figure, path)


def plot_cka(names: list[str], matrix: torch.Tensor, path: Path) -> Path:
    """Fig. S2: linear CKA between the checkpoints' representations."""
    figure, ax = plt.subplots(figsize=(1.2 * len(names) + 2.5, 1.0 * len(names) + 2))
    ax.imshow(matrix.numpy(), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{float(matrix[i, j]):.2f}", ha="center", va="center", fontsize=8,
                    color="black" if matrix[i, j] > 0.6 else "white")
    ax.set_title("linear CKA of representations")
    return _save(figure, path)


def render(analyses: list[Analysis], cka: torch.Tensor | None, out_dir: Path) -> list[Path]:
    """Every figure, and the HTML page holding them and the numbers, in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = [plot_spectra(analyses, out_dir / SPECTRA), plot_negative_cosines(analyses, out_dir / NEGATIVES),
               plot_gram_covariance(analyses, out_dir / MATRICES)]
    if cka is not None:
        figures.append(plot_cka([a.name for a in analyses], cka, out_dir / CKA))
    return [*figures, write_page(analyses, figures, out_dir / PAGE)]


def write_page(analyses: list[Analysis], figures: list[Path], path: Path) -> Path:
    """One HTML file with the numbers of every checkpoint and the figures inlined as base64."""
    names = [a.name for a in analyses]
    rows = "".join(f"<tr><td>{html.escape(k)}</td>" + "".join(f"<td>{a.metrics[k]:.4g}</td>" for a in analyses)
                   + "</tr>" for k in analyses[0].metrics)
    images = "".join(f'<h2>{html.escape(f.stem.replace("_", " "))}</h2><img alt="{html.escape(f.stem)}" '
                     f'src="data:image/png;base64,{base64.b64encode(f.read_bytes()).decode()}">' for f in figures)
    header = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>dualtune analysis</title>"
                    f"<style>body{{font-family:sans-serif}}td,th{{padding:2px 8px;text-align:right}}</style></head>"
                    f"<body><h1>dualtune analyze: {html.escape(', '.join(names))}</h1><table><tr><th></th>{header}"
                    f"</tr>{rows}</table>{images}</body></html>")
    return path
