"""Static language tables for the Azure engine: what it hears, what it writes, who speaks.

A documented subset, copied by hand from Microsoft's "Language and voice support
for the Speech service" page (speech translation: speech input locales and text
translation targets; text to speech: neural voices) as of 2025. Azure adds
languages often; a code missing here can be added without other changes.
Project language codes are BCP 47 (``en``, ``pt-BR``); Azure wants a locale for
the source (``en-US``) and Translator codes for targets (``zh-Hans``).
"""

from __future__ import annotations

# Speech input: project code -> the Azure locale it is recognized as.
SOURCE_LOCALES: dict[str, str] = {
    "af": "af-ZA",
    "am": "am-ET",
    "ar": "ar-SA",
    "az": "az-AZ",
    "bg": "bg-BG",
    "bn": "bn-IN",
    "bs": "bs-BA",
    "ca": "ca-ES",
    "cs": "cs-CZ",
    "cy": "cy-GB",
    "da": "da-DK",
    "de": "de-DE",
    "el": "el-GR",
    "en": "en-US",
    "es": "es-ES",
    "et": "et-EE",
    "eu": "eu-ES",
    "fa": "fa-IR",
    "fi": "fi-FI",
    "fil": "fil-PH",
    "fr": "fr-FR",
    "ga": "ga-IE",
    "gl": "gl-ES",
    "gu": "gu-IN",
    "he": "he-IL",
    "hi": "hi-IN",
    "hr": "hr-HR",
    "hu": "hu-HU",
    "hy": "hy-AM",
    "id": "id-ID",
    "is": "is-IS",
    "it": "it-IT",
    "ja": "ja-JP",
    "jv": "jv-ID",
    "ka": "ka-GE",
    "kk": "kk-KZ",
    "km": "km-KH",
    "kn": "kn-IN",
    "ko": "ko-KR",
    "lo": "lo-LA",
    "lt": "lt-LT",
    "lv": "lv-LV",
    "mk": "mk-MK",
    "ml": "ml-IN",
    "mn": "mn-MN",
    "mr": "mr-IN",
    "ms": "ms-MY",
    "mt": "mt-MT",
    "my": "my-MM",
    "nb": "nb-NO",
    "ne": "ne-NP",
    "nl": "nl-NL",
    "pa": "pa-IN",
    "pl": "pl-PL",
    "ps": "ps-AF",
    "pt": "pt-BR",
    "ro": "ro-RO",
    "ru": "ru-RU",
    "si": "si-LK",
    "sk": "sk-SK",
    "sl": "sl-SI",
    "so": "so-SO",
    "sq": "sq-AL",
    "sr": "sr-RS",
    "sv": "sv-SE",
    "sw": "sw-KE",
    "ta": "ta-IN",
    "te": "te-IN",
    "th": "th-TH",
    "tr": "tr-TR",
    "uk": "uk-UA",
    "ur": "ur-IN",
    "uz": "uz-UZ",
    "vi": "vi-VN",
    "zh": "zh-CN",
    "zu": "zu-ZA",
    # Regional variants people ask for by name.
    "en-GB": "en-GB",
    "en-AU": "en-AU",
    "en-IN": "en-IN",
    "es-MX": "es-MX",
    "fr-CA": "fr-CA",
    "pt-BR": "pt-BR",
    "pt-PT": "pt-PT",
    "zh-TW": "zh-TW",
    "zh-HK": "zh-HK",
    "de-CH": "de-CH",
}

# Translation targets: project code -> Translator code (most are the same).
TARGET_CODES: dict[str, str] = {
    code: code
    for code in (
        "af am ar as az ba bg bn bo bs ca cs cy da de dv el en es et eu fa fi fil fj fo fr ga gl "
        "gu ha he hi hr ht hu hy id ig is it iu ja ka kk km kn ko ku ky lo lt lv mg mi mk ml mn "
        "mr ms mt my nb ne nl or pa pl prs ps pt ro ru rw sk sl sm so sq sr st sv sw ta te th ti "
        "tk to tr tt ty ug uk ur uz vi xh yo yua yue zu"
    ).split()
} | {
    "zh": "zh-Hans",
    "zh-CN": "zh-Hans",
    "zh-TW": "zh-Hant",
    "zh-HK": "zh-Hant",
    "pt-BR": "pt",
    "pt-PT": "pt-pt",
    "fr-CA": "fr-ca",
    "no": "nb",
    "sr-Latn": "sr-Latn",
    "mn-Mong": "mn-Mong",
    "iu-Latn": "iu-Latn",
    "ku-Arab": "ckb",
}

# Speech output: project code -> a default neural voice (override with AZURE_SPEECH_VOICES).
DEFAULT_VOICES: dict[str, str] = {
    "ar": "ar-SA-ZariyahNeural",
    "bg": "bg-BG-KalinaNeural",
    "ca": "ca-ES-JoanaNeural",
    "cs": "cs-CZ-VlastaNeural",
    "da": "da-DK-ChristelNeural",
    "de": "de-DE-KatjaNeural",
    "el": "el-GR-AthinaNeural",
    "en": "en-US-JennyNeural",
    "es": "es-ES-ElviraNeural",
    "fi": "fi-FI-SelmaNeural",
    "fr": "fr-FR-DeniseNeural",
    "he": "he-IL-HilaNeural",
    "hi": "hi-IN-SwaraNeural",
    "hr": "hr-HR-GabrijelaNeural",
    "hu": "hu-HU-NoemiNeural",
    "id": "id-ID-GadisNeural",
    "it": "it-IT-ElsaNeural",
    "ja": "ja-JP-NanamiNeural",
    "ko": "ko-KR-SunHiNeural",
    "nb": "nb-NO-PernilleNeural",
    "nl": "nl-NL-ColetteNeural",
    "pl": "pl-PL-ZofiaNeural",
    "pt": "pt-BR-FranciscaNeural",
    "pt-BR": "pt-BR-FranciscaNeural",
    "pt-PT": "pt-PT-RaquelNeural",
    "ro": "ro-RO-AlinaNeural",
    "ru": "ru-RU-SvetlanaNeural",
    "sk": "sk-SK-ViktoriaNeural",
    "sv": "sv-SE-SofieNeural",
    "th": "th-TH-PremwadeeNeural",
    "tr": "tr-TR-EmelNeural",
    "uk": "uk-UA-PolinaNeural",
    "vi": "vi-VN-HoaiMyNeural",
    "zh": "zh-CN-XiaoxiaoNeural",
    "zh-TW": "zh-TW-HsiaoChenNeural",
}


def source_locale(code: str) -> str:
    """The Azure locale for a project source language; a full locale passes through."""
    return SOURCE_LOCALES.get(code) or SOURCE_LOCALES.get(code.split("-")[0], code)


def target_code(code: str) -> str:
    """The Translator code for a project target language; unknown codes pass through."""
    return TARGET_CODES.get(code) or code


def same_language(source: str, target: str) -> bool:
    return source.split("-")[0].lower() == target.split("-")[0].lower()


def supported_pairs() -> dict[str, frozenset[str]]:
    """Every source with every target except itself: Azure translates any pair."""
    return {
        source: frozenset(t for t in TARGET_CODES if not same_language(source, t))
        for source in SOURCE_LOCALES
    }
