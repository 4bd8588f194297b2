"""Compile the project's .po translations to .mo without GNU gettext.

Django's ``compilemessages`` needs ``msgfmt``; a fresh machine with only Python, make and Node
does not have it, so ``make demo``/``make test`` compile with polib instead. Compiled files are
build output (git-ignored) and are rewritten only when the .po is newer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polib
from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Compile siyu/locale/**/django.po to .mo (pure Python, no gettext needed)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--force", action="store_true", help="Rewrite .mo files even when up to date.")

    def handle(self, *args: Any, **options: Any) -> None:
        compiled = 0
        for locale_dir in settings.LOCALE_PATHS:
            for po_path in sorted(Path(locale_dir).glob("*/LC_MESSAGES/*.po")):
                mo_path = po_path.with_suffix(".mo")
                if (
                    not options["force"]
                    and mo_path.exists()
                    and mo_path.stat().st_mtime >= po_path.stat().st_mtime
                ):
                    continue
                po = polib.pofile(str(po_path))
                po.save_as_mofile(str(mo_path))
                compiled += 1
                if options["verbosity"] > 1:
                    self.stdout.write(f"compiled {po_path} ({po.percent_translated()}% translated)")
        if options["verbosity"] > 0:
            self.stdout.write(f"translations: {compiled} file(s) compiled")
