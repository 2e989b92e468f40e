"""Test data made on the fly: synthetic signature-like crops and encoded files."""

from __future__ import annotations

import io

import cv2
import numpy as np


def synthetic_signature(writer: int, variant: int = 0, size=(120, 320), jitter: float = 2.0) -> np.ndarray:
    """A pen-like scribble ``(H, W, 3) uint8`` BGR: the same writer gives the same shape with small wobble."""
    shape_rng = np.random.default_rng(writer)
    wobble = np.random.default_rng([writer, variant])
    h, w = size
    points = shape_rng.uniform([0.1 * w, 0.2 * h], [0.9 * w, 0.8 * h], size=(9, 2))
    points = points[np.argsort(points[:, 0])]
    points += wobble.normal(0, jitter, points.shape)
    t = np.linspace(0, 1, 200)
    curve = np.stack([np.interp(t, np.linspace(0, 1, len(points)), points[:, i]) for i in range(2)], axis=1)
    curve[:, 1] += 10 * np.sin(t * (6 + writer % 5) * np.pi)
    image = np.full((h, w, 3), 250, np.uint8)
    cv2.polylines(image, [curve.astype(np.int32)], False, (40, 30, 20), 3, cv2.LINE_AA)
    return image


def encode(image: np.ndarray, ext: str = ".png") -> bytes:
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


def pillow_bytes(images, fmt: str, **kwargs) -> bytes:
    """Several BGR images -> one multi-page file (TIFF, PDF) through Pillow."""
    from PIL import Image

    pages = [Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)) for image in images]
    buffer = io.BytesIO()
    pages[0].save(buffer, format=fmt, save_all=True, append_images=pages[1:], **kwargs)
    return buffer.getvalue()


def pdf_with_text_layer(image: np.ndarray, texts, dpi: int) -> bytes:
    """A one-page PDF: ``image (H, W, 3) BGR`` as the page's picture (at ``dpi``) with ``texts`` written over it as
    real PDF text in Helvetica: ``[(text, x_px, baseline_y_px, size_px)]`` in the picture's pixels.

    Hand-written (no PDF library in the project): a catalog, one page, a font, an image XObject, one content stream.
    """
    import zlib

    h, w = image.shape[:2]
    scale = 72.0 / dpi
    width_pt, height_pt = w * scale, h * scale
    pixels = zlib.compress(cv2.cvtColor(image, cv2.COLOR_BGR2RGB).tobytes())

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    content = [f"q {width_pt:.2f} 0 0 {height_pt:.2f} 0 0 cm /Im1 Do Q"]
    for text, x, baseline, size in texts:
        content.append(f"BT /F1 {size * scale:.2f} Tf {x * scale:.2f} {height_pt - baseline * scale:.2f} Td "
                       f"({escape(text)}) Tj ET")
    stream = "\n".join(content).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width_pt:.2f} {height_pt:.2f}] "
         "/Resources << /Font << /F1 4 0 R >> /XObject << /Im1 5 0 R >> >> /Contents 6 0 R >>").encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        (f"<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceRGB /BitsPerComponent 8 "
         f"/Filter /FlateDecode /Length {len(pixels)} >>\nstream\n").encode() + pixels + b"\nendstream",
        f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def make_certificates(directory):
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def make(name, issuer_key=None, issuer_name=None, ca=False, san=None):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name or subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert = builder.sign(issuer_key or key, hashes.SHA256())
        return key, cert

    ca_key, ca_cert = make("stampauth test CA", ca=True)
    server_key, server_cert = make("localhost", ca_key, ca_cert.subject, san=[
        x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    client_key, client_cert = make("pipeline", ca_key, ca_cert.subject)
    paths = {}
    for name, key, cert in (("ca", ca_key, ca_cert), ("server", server_key, server_cert), ("client", client_key, client_cert)):
        paths[f"{name}.key"] = directory / f"{name}.key"
        paths[f"{name}.key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
        paths[f"{name}.pem"] = directory / f"{name}.pem"
        paths[f"{name}.pem"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return paths
