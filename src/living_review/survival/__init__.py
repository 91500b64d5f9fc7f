"""Survival evidence: IPD reconstructed from published Kaplan-Meier curves (Guyot 2012).

* :mod:`~living_review.survival.digitised` reads and checks digitised ``(t, S)`` points and the
  numbers-at-risk table under a figure;
* :mod:`~living_review.survival.guyot` reconstructs patient-level data from them;
* :mod:`~living_review.survival.estimates` gives Kaplan-Meier, Cox HR and RMST / ΔRMST
  (survRM2's formulas) from patient-level data;
* :mod:`~living_review.survival.pooling` pools ΔRMST across trials and turns stored curves into
  contrast rows for the NMA; :mod:`~living_review.survival.service` stores curves per arm.

Heavy libraries (lifelines, matplotlib) are imported inside functions only.
"""
