# One image for web, worker and beat. Two stages: tesserocr is compiled in `build`
# (compilers and headers stay there); `runtime` gets the built virtualenv and only the
# shared libraries and programs Chartvault runs.
FROM python:3.11.13-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libtesseract-dev libleptonica-dev pkg-config g++ \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/chartvault
ENV PATH=/opt/chartvault/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY chartvault chartvault
COPY ingest ingest
COPY ocr ocr
COPY archive archive
COPY search search
COPY retention retention
COPY web web
# tesserocr from source, on Debian's libtesseract: the same Tesseract as the CLI.
# Not editable: the package is copied into the virtualenv, which is all runtime takes.
RUN pip install --no-cache-dir --no-binary tesserocr . \
 && python -m compileall -q /opt/chartvault

FROM python:3.11.13-slim-bookworm AS runtime
# libtesseract5 / liblept5: what the compiled tesserocr links against, without -dev
RUN apt-get update \
 && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng \
      tesseract-ocr-osd libtesseract5 liblept5 poppler-utils fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 --user-group chartvault
COPY --from=build /opt/chartvault /opt/chartvault
ENV PATH=/opt/chartvault/bin:$PATH OMP_THREAD_LIMIT=1 PYTHONDONTWRITEBYTECODE=1 \
    CHARTVAULT_HOME=/home/chartvault/data
USER chartvault
WORKDIR /home/chartvault
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=4 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=5)"]
CMD ["chartvault", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-workers"]
