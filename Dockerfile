# One image for web, worker and beat.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng \
      tesseract-ocr-osd poppler-utils fonts-dejavu-core \
      libtesseract-dev libleptonica-dev pkg-config g++ \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 chartvault
WORKDIR /app
COPY pyproject.toml README.md ./
COPY chartvault chartvault
COPY ingest ingest
COPY ocr ocr
COPY archive archive
COPY search search
COPY retention retention
COPY web web
# tesserocr from source, on Debian's libtesseract: the same Tesseract as the CLI.
RUN pip install --no-cache-dir --no-binary tesserocr .
USER chartvault
ENV OMP_THREAD_LIMIT=1 CHARTVAULT_HOME=/home/chartvault/data
EXPOSE 8000
CMD ["chartvault", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-workers"]
