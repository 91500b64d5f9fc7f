"""The tagged importers (RIS, WoS, Ovid) against the real export samples in ../shared.

Expected values were read off the files themselves (first and last record of each file).
The files are read in place from the shared folder, never copied into the project.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from living_review.sources.base import ParsedRecord

FORMATS = "benchmarks/formats"


@dataclass(frozen=True)
class Expect:
    """The facts of one record: identity, bibliographic fields and the abstract's start."""

    title: str
    first_author: str | None
    year: int | None
    journal: str | None
    doi: str | None
    pmid: str | None
    accession: str | None
    abstract: str | None
    line: int


@dataclass(frozen=True)
class Sample:
    """One shared file: its format, record count and its first and last records."""

    path: str
    fmt: str
    count: int
    first: Expect
    last: Expect


SAMPLES = [
    Sample(
        "ris/ebsco_asp_synthesisr.ris",
        "ris",
        4,
        Expect(
            "“Living on the edge”: The role of field margins for common vole (Microtus "
            "arvalis) populations in recently colonised Mediterranean farmland.",
            "Rodríguez-Pastor, Ruth",
            2016,
            "Agriculture, Ecosystems & Environment",
            "10.1016/j.agee.2016.06.041",
            None,
            "117372971",
            "Small rodents are common inhabitants of farmlands",
            1,
        ),
        Expect(
            "2ZGK-6 型可调宽窄行高速水稻插秧机设计与试验.",
            "朱德泉",
            2016,
            "Transactions of the Chinese Society of Agricultural Engineering",
            "10.11975/j.issn.1002-6819.2016.21.005",
            None,
            "119093570",
            "Rice production is distributed broadly in China.",
            83,
        ),
    ),
    Sample(
        "ris/ovid_ris_cababstracts_synthesisr.ris",
        "ris",
        4,
        Expect(
            "Detection of retention trees on clearcuts, a 50-year perspective.",
            "Holmstrom, E.",
            2020,
            "Open Journal of Forestry",
            "10.4236/ojf.2020.101008",
            None,
            "20203152553",
            "Changes in clearcut management over time were evaluated",
            2,
        ),
        Expect(
            "Diversity of yard plants in the buffer zone of the Cyclop Nature Reserve, "
            "Jayapura City Papua Province, Indonesia.",
            "Antoh, A. A.",
            2019,
            "AAB Bioflux",
            None,
            None,
            "20203150108",
            "The Cyclop Mountains are located on the island of Papua",
            104,
        ),
    ),
    Sample(
        "ris/ovid_ris_psycinfo_asreview.ris",
        "ris",
        6,
        Expect(
            "The influence of self-criticism on depression symptoms among ambulatory "
            "patients with inflammatory bowel disease.",
            "Trindade, Ines A",
            2019,
            "Clinical Psychology & Psychotherapy",
            "10.1002/cpp.2398",
            None,
            "2019-65183-001",
            "Considering that self-criticism is an important process",
            2,
        ),
        Expect(
            "Psychological outcomes of a cognitive behavioral therapy for youth with "
            "inflammatory bowel disease: Results of the happy-ibd randomized controlled "
            "trial at 6- and 12-month follow-up.",
            "Stapersma, Luuk",
            2019,
            "Journal of Clinical Psychology in Medical Settings",
            "10.1007/s10880-019-09649-9",
            None,
            "2019-55194-001",
            "AbstractYouth with inflammatory bowel disease (IBD)",
            298,
        ),
    ),
    Sample(
        "ris/pubmed_via_zotero_asreview.ris",
        "ris",
        6,
        Expect(
            "The importance of cognitive flexibility and flexibility in coping with stress "
            "for the quality of life in inflammatory bowel disease patients during "
            "biological therapy. A preliminary report.",
            "Rudnik, Agata",
            2019,
            "Przeglad gastroenterologiczny",
            "10.5114/pg.2018.81081",
            None,
            None,
            "Introduction: There are studies demonstrating the relation",
            1,
        ),
        Expect(
            "Efficacy and safety of Tripterygium wilfordii Hook F preparations for the "
            "treatment of Crohn disease: A systemic review and meta-analysis protocol.",
            "Zhang, Jianying",
            2019,
            "Medicine",
            "10.1097/MD.0000000000016231",
            None,
            None,
            "BACKGROUND: Crohn disease (CD) is associated",
            129,
        ),
    ),
    Sample(
        "ris/scopus_asysd.ris",
        "ris",
        10,
        Expect(
            "Development and Validation of a Robust and Straightforward LC-MS Method for "
            "Measuring Taurine in Whole Blood and Plasma of Dogs and Reference Intervals "
            "Calculation",
            "Furlanello, T.",
            2025,
            "Animals",
            "10.3390/ani15010003",
            None,
            "2-s2.0-85214459603",
            "Several studies have highlighted the essential role of taurine",
            1,
        ),
        Expect(
            "Exocrine pancreatic inflammation in canine diabetes mellitus – An active offender?",
            "Johnson-Pitt, A.",
            2024,
            "Veterinary Journal",
            "10.1016/j.tvjl.2024.106241",
            "39243807",
            "2-s2.0-85203626893",
            "The purpose of this review is to examine",
            636,
        ),
    ),
    Sample(
        "wos/wos_ris_asysd.ris",
        "ris",
        50,
        Expect(
            "Microangiography of the humeral condyle in Cocker Spaniel and non-Cocker Spaniel dogs",
            "Larsen, LJ",
            1999,
            "VETERINARY AND COMPARATIVE ORTHOPAEDICS AND TRAUMATOLOGY",
            None,
            None,
            "WOS:000082252000006",
            "The purpose of this study was to evaluate the blood supply",
            1,
        ),
        Expect(
            "Gallbladder mucocele in a 12-year-old cocker spaniel",
            "Norwich, A",
            2011,
            "CANADIAN VETERINARY JOURNAL-REVUE VETERINAIRE CANADIENNE",
            None,
            None,
            "WOS:000287992700018",
            "A 12-year-old, spayed cocker spaniel was presented",
            1814,
        ),
    ),
    Sample(
        "wos/wos_ciw_synthesisr.ciw",
        "wos",
        5,
        Expect(
            "Soil fauna diversity at different stages of reed restoration in a lakeshore "
            "wetland at Lake Taihu, China",
            "Li, Wei",
            2020,
            "ECOSYSTEM HEALTH AND SUSTAINABILITY",
            "10.1080/20964129.2020.1722034",
            None,
            "WOS:000514379300001",
            "Introduction: Wetland soil fauna support material cycling and restoration",
            3,
        ),
        Expect(
            "EPO could be regulated by HIF-1 and promote osteogenesis and accelerate bone repair.",
            "Yu, Yijun",
            2020,
            "Artificial cells, nanomedicine, and biotechnology",
            "10.1080/21691401.2019.1699827",
            "31851837",
            "MEDLINE:31851837",
            "Bone defects caused by many factors prompt",
            184,
        ),
    ),
    Sample(
        "wos/wos_plaintext_other_reference_software_knh11545.txt",
        "wos",
        12,
        Expect(
            "Caregivers' views on stigmatization and discrimination of people affected by "
            "leprosy in Ghana",
            "Asampong, Emmanuel",
            2018,
            "PLOS NEGLECTED TROPICAL DISEASES",
            "10.1371/journal.pntd.0006219",
            "29377890",
            "WOS:000424022700066",
            "Background\nLeprosy is a condition that has long been associated with stigma",
            3,
        ),
        Expect(
            "Prohibitin plays a critical role in Enterovirus 71 neuropathogenesis",
            "Too, Issac Horng Khit",
            2018,
            "PLOS PATHOGENS",
            "10.1371/journal.ppat.1006778",
            "29324904",
            "WOS:000424003200017",
            "A close relative of poliovirus, enterovirus 71 (EV71)",
            901,
        ),
    ),
    Sample(
        "embase/embasecom_asreview_embase.ris",
        "ris",
        6,
        Expect(
            "Duplication cysts: Diagnosis, management, and the role of endoscopic ultrasound",
            "Liu R.",
            2014,
            "Endoscopic Ultrasound",
            "10.4103/2303-9027.138783",
            None,
            "L373791783",
            "Gastrointestinal tract duplication cysts are rare congenital",
            1,
        ),
        Expect(
            "Completely Isolated Retroperitoneal Enteric Duplication Cyst with "
            "Adenocarcinoma Transformation Managed with Robotic Radical Nephrectomy",
            "Faraj K.",
            2017,
            "Journal of Endourology Case Reports",
            "10.1089/cren.2017.0016",
            None,
            "L624782849",
            "Background: Enteric duplication cysts are congenital",
            317,
        ),
    ),
    Sample(
        "embase/ovid_embase_via_endnote_bibfix.ris",
        "ris",
        974,
        Expect(
            "Promoting increased use of ear protectors in noise through information feedback",
            "Zohar, D.",
            1980,
            "Human Factors",
            "10.1177/001872088002200108",
            None,
            "10041337",
            "Workers in a noisy department of a metal fabrication plant",
            1,
        ),
        Expect(
            "The effect of a quality improvement intervention on sleep and delirium in "
            "critically ill patients in a surgical intensive care unit",
            None,  # the last record has no AU lines
            2021,
            "Chest",
            "10.1016/j.chest.2021.03.030",
            None,
            "634678895",
            "BACKGROUND: Delirium is a deleterious condition",
            37903,
        ),
    ),
    Sample(
        "embase/ovid_embase_citavi_complete_reference_knh11545.ovd",
        "ovid",
        2,
        Expect(
            "Quality of life in patients with primary ciliary dyskinesia: A systematic review.",
            "Behan L.",
            2018,
            "BMC Proceedings",
            "10.1186/s12919-018-0099-8",
            None,
            "621381829",
            "Background: As in most rare diseases, little is known on how primary ciliary",
            1,
        ),
        Expect(
            "Development of a bioinformatics analysis method for diagnosis of.",
            "Dyskinesia P.C.",
            2018,
            "BMC Proceedings",
            "10.1186/s12919-018-0099-8",
            None,
            "621381823",
            "Primary ciliary dyskinesia is a rare, autosomal recessive",
            72,
        ),
    ),
    Sample(
        "embase/ovid_embase_endnote_complete_reference_knh11545.cgi",
        "ovid",
        2,
        Expect(
            "Quality of life in patients with primary ciliary dyskinesia: A systematic review.",
            "Behan L.",
            2018,
            "BMC Proceedings",
            "10.1186/s12919-018-0099-8",
            None,
            "621381829",
            "Background: As in most rare diseases, little is known on how primary ciliary",
            1,
        ),
        Expect(
            "Development of a bioinformatics analysis method for diagnosis of.",
            "Dyskinesia P.C.",
            2018,
            "BMC Proceedings",
            "10.1186/s12919-018-0099-8",
            None,
            "621381823",
            "Primary ciliary dyskinesia is a rare, autosomal recessive",
            75,
        ),
    ),
]

_MODULES = {"ris": "ris", "wos": "wos", "ovid": "ovid"}


def _sample(name: str) -> Sample:
    """Return the sample whose file name is ``name``."""
    return next(s for s in SAMPLES if s.path.endswith("/" + name))


def _parse(shared: Path, sample: Sample) -> list[ParsedRecord]:
    """Parse a shared sample with its format's own module."""
    module = importlib.import_module(f"living_review.sources.{_MODULES[sample.fmt]}")
    return list(module.parse(shared / FORMATS / sample.path))


def _check(rec: ParsedRecord, want: Expect) -> None:
    """Assert one record against the facts read off the file."""
    assert rec.title == want.title
    assert (rec.authors[0] if rec.authors else None) == want.first_author
    assert rec.year == want.year
    assert rec.journal == want.journal
    assert rec.doi == want.doi
    assert rec.pmid == want.pmid
    assert rec.accession == want.accession
    assert rec.source_key == want.accession
    assert rec.line == want.line
    if want.abstract is None:
        assert rec.abstract is None
    else:
        assert rec.abstract is not None and rec.abstract.startswith(want.abstract)


def _id(sample: Sample) -> str:
    """Name a parametrised case after its file."""
    return sample.path.rsplit("/", 1)[-1]


@pytest.mark.parametrize("sample", SAMPLES, ids=_id)
def test_sample_parses_with_the_right_records(shared: Path, sample: Sample) -> None:
    records = _parse(shared, sample)
    assert len(records) == sample.count
    _check(records[0], sample.first)
    _check(records[-1], sample.last)
    assert all(r.title for r in records)
    assert all(r.raw for r in records)


@pytest.mark.parametrize("sample", SAMPLES, ids=_id)
def test_own_sniffer_claims_the_sample_and_the_others_do_not(shared: Path, sample: Sample) -> None:
    from living_review.sources import ovid, ris, wos
    from living_review.sources.registry import read_head

    head = read_head(shared / FORMATS / sample.path)
    claims = {name: mod.sniff(head) for name, mod in (("wos", wos), ("ovid", ovid), ("ris", ris))}
    assert claims == {name: name == sample.fmt for name in claims}


@pytest.mark.parametrize("sample", SAMPLES, ids=_id)
def test_registry_detects_the_format(shared: Path, sample: Sample) -> None:
    # Needs every format module (pubmed_xml, medline, csv_table too) to import.
    from living_review.sources.registry import detect_format

    assert detect_format(shared / FORMATS / sample.path) == sample.fmt


def test_embase_com_middle_record_has_the_medline_pmid(shared: Path) -> None:
    records = _parse(shared, _sample("embasecom_asreview_embase.ris"))
    assert (records[1].accession, records[1].pmid) == ("L39097156", "15368318")
    assert records[1].extra["DB"] == ["Embase", "Medline"]


def test_ovid_variants_agree(shared: Path) -> None:
    citavi = _parse(shared, _sample("ovid_embase_citavi_complete_reference_knh11545.ovd"))
    endnote = _parse(shared, _sample("ovid_embase_endnote_complete_reference_knh11545.cgi"))
    for a, b in zip(citavi, endnote, strict=True):
        assert a.abstract == b.abstract  # EndNote's split abstract rejoins exactly
        assert (
            (a.volume, a.issue, a.pages)
            == (b.volume, b.issue, b.pages)
            == (
                "12",
                "Supplement 3",
                None,
            )
        )
        assert a.flags == b.flags == ["conference_abstract"]


def test_wos_ris_run_on_lines_are_recovered(shared: Path) -> None:
    records = _parse(shared, _sample("wos_ris_asysd.ris"))
    assert all(r.accession and r.accession.startswith("WOS:") for r in records)
    assert all("WE" in r.extra for r in records)


def test_endnote_ris_speed(shared: Path) -> None:
    start = time.perf_counter()
    records = _parse(shared, _sample("ovid_embase_via_endnote_bibfix.ris"))
    elapsed = time.perf_counter() - start
    assert len(records) == 974
    assert elapsed < 3.0, f"974 records took {elapsed:.2f}s"
