from django.shortcuts import render

from .models import Fortune


class _Row:
    def __init__(self, id, message):
        self.id = id
        self.message = message


def fortunes(request):
    rows = [_Row(f.id, f.message) for f in Fortune.objects.all()]
    rows.append(_Row(0, "Additional fortune added at request time."))
    rows.sort(key=lambda r: r.message)
    return render(request, "fortunes.html", {"fortunes": rows})
