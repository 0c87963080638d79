"""Images and documents: data URLs, media types guessed from file names, what each upstream can read."""

from __future__ import annotations

from gateway.translate.neutral import Media

_EXTENSIONS = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
               "webp": "image/webp", "heic": "image/heic", "heif": "image/heif", "pdf": "application/pdf"}


def from_url(url: str) -> Media:
    """`url` as Media: a base64 data URL becomes inline data, anything else stays a URL."""
    if url.startswith("data:"):
        header, _, payload = url[5:].partition(",")
        mime, _, encoding = header.partition(";")
        if encoding == "base64":
            return Media(mime=mime or None, data=payload)
    return Media(mime=guess_mime(url), url=url)


def data_url(media: Media) -> str:
    """The media as an http(s) URL or a base64 data URL."""
    if media.url is not None:
        return media.url
    return f"data:{media.mime or 'application/octet-stream'};base64,{media.data or ''}"


def guess_mime(url: str) -> str | None:
    """A media type from the URL's file extension, or None when it does not say."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    name = path.rsplit("/", 1)[-1]
    if "." not in name:
        return None
    return _EXTENSIONS.get(name.rsplit(".", 1)[-1].lower())


def is_image(media: Media) -> bool:
    return media.mime is None or media.mime.startswith("image/")


def is_fetchable(url: str) -> bool:
    """Whether a third party could fetch `url` itself (http/https, not a Gemini Files API handle)."""
    lowered = url.lower()
    return lowered.startswith(("http://", "https://")) and "generativelanguage.googleapis.com" not in lowered
