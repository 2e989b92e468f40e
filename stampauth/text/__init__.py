"""Text near and inside marks: PDF text layers, Tesseract OCR, round-stamp ring text, fuzzy name matching.

``stampauth.text.tesseract``: the OCR engine (pytesseract) and tile mosaics (one Tesseract call for many images);
``stampauth.text.ring``: polar unwrap of round stamps; ``stampauth.text.nearby``: the neighbourhood of a mark;
``stampauth.text.match``: normalized fuzzy matching of names and identifiers; ``stampauth.text.reader``: all of
it for the marks of a page.
"""
