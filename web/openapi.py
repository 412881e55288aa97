"""The OpenAPI 3.0 description of ``/api`` (served at ``/api/openapi.json``)."""

from __future__ import annotations

from typing import Any

ERRORS = {
    "400": "bad request (e.g. a missing CSRF token from a browser)",
    "401": "no or unknown bearer token",
    "403": "the user's role may not do this",
    "404": "no such object",
    "411": "an upload sent chunked: send it with a Content-Length",
    "413": "the upload is over CHARTVAULT_MAX_BATCH_MB, or a file in it over "
           "CHARTVAULT_MAX_FILE_MB",
    "422": "the input cannot be processed as given",
    "429": "the user already runs CHARTVAULT_MAX_CONCURRENT_UPLOADS uploads",
    "507": "the server's temporary space is nearly full: retry later",
}


def _error_responses(*codes: str) -> dict[str, Any]:
    return {code: {"description": ERRORS[code],
                   "content": {"application/json": {"schema": {
                       "$ref": "#/components/schemas/Error"}}}}
            for code in codes}


def _id(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}


def _binary(description: str, *media: str) -> dict[str, Any]:
    return {"description": description,
            "content": {m: {"schema": {"type": "string", "format": "binary"}} for m in media}}


REASON = {"name": "X-Access-Reason", "in": "header", "required": False,
          "description": "why a restricted document is opened (break the glass; recorded)",
          "schema": {"type": "string", "maxLength": 500}}


def openapi_document() -> dict[str, Any]:
    doc_id = _id("document_id", "document id")
    return {
        "openapi": "3.0.3",
        "info": {"title": "Chartvault API", "version": "1",
                 "description": "Upload scanned charts, follow batches, search, read."},
        "security": [{"bearer": []}],
        "paths": {
            "/api/batches": {"post": {
                "summary": "Upload a batch of files (answered once every original is durable)",
                "requestBody": {"required": True, "content": {"multipart/form-data": {
                    "schema": {"type": "object", "required": ["files"], "properties": {
                        "files": {"type": "array", "items": {"type": "string",
                                                             "format": "binary"}},
                        "manifest": {"type": "string", "format": "binary"},
                        "mrn": {"type": "string"},
                        "type": {"type": "string"},
                        "service_date": {"type": "string", "format": "date"},
                        "facility": {"type": "string"},
                        "patient_name": {"type": "string"},
                        "date_of_birth": {"type": "string", "format": "date"}}}}}},
                "responses": {"202": {"description": "accepted; OCR runs in the background",
                                      "content": {"application/json": {"schema": {
                                          "$ref": "#/components/schemas/Accepted"}}}},
                              **_error_responses("400", "401", "403", "411", "413", "422",
                                                 "429", "507")}}},
            "/api/batches/{batch_id}": {"get": {
                "summary": "Progress of a batch: documents, pages done, quarantine",
                "parameters": [_id("batch_id", "batch id")],
                "responses": {"200": {"description": "the batch",
                                      "content": {"application/json": {"schema": {
                                          "$ref": "#/components/schemas/Batch"}}}},
                              **_error_responses("401", "403", "404")}}},
            "/api/search": {"get": {
                "summary": "Full-text search (same shape as `chartvault search --json`)",
                "parameters": [
                    {"name": "q", "in": "query", "required": True,
                     "schema": {"type": "string"}},
                    {"name": "mrn", "in": "query", "schema": {"type": "string"}},
                    {"name": "type", "in": "query", "schema": {"type": "string"}},
                    {"name": "sort", "in": "query",
                     "schema": {"type": "string", "enum": ["relevance", "date"]}},
                    {"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                    {"name": "offset", "in": "query",
                     "schema": {"type": "integer", "minimum": 0, "maximum": 10000}}],
                "responses": {"200": {"description": "documents, best first",
                                      "content": {"application/json": {"schema": {
                                          "$ref": "#/components/schemas/SearchResult"}}}},
                              **_error_responses("401", "403", "422")}}},
            "/api/documents/{document_id}": {"get": {
                "summary": "Metadata, status and pages of a document",
                "parameters": [doc_id, REASON],
                "responses": {"200": {"description": "the document",
                                      "content": {"application/json": {"schema": {
                                          "type": "object"}}}},
                              **_error_responses("401", "403", "404")}}},
            "/api/documents/{document_id}/pages/{number}/image": {"get": {
                "summary": "The page image",
                "parameters": [doc_id, REASON,
                               {"name": "number", "in": "path", "required": True,
                                "schema": {"type": "integer", "minimum": 1}}],
                "responses": {"200": _binary("the page image, in the format set when the page "
                                              "was read (CHARTVAULT_PAGE_IMAGE_FORMAT: JPEG by "
                                              "default, WebP or PNG)", "image/jpeg",
                                              "image/webp", "image/png"),
                              **_error_responses("401", "403", "404")}}},
            "/api/documents/{document_id}/original": {"get": {
                "summary": "Download the original file",
                "parameters": [doc_id, REASON],
                "responses": {"200": _binary("the original", "application/octet-stream"),
                              **_error_responses("401", "403", "404")}}},
            "/api/documents/{document_id}/pdf": {"get": {
                "summary": "Download the searchable PDF",
                "parameters": [doc_id, REASON],
                "responses": {"200": _binary("the searchable PDF", "application/pdf"),
                              **_error_responses("401", "403", "404")}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {
                    "error": {"type": "object", "required": ["code", "message"],
                              "properties": {"code": {"type": "string"},
                                             "message": {"type": "string"},
                                             "retryable": {"type": "boolean"}}}}},
                "Accepted": {"type": "object", "required": ["id"], "properties": {
                    "id": {"type": "string"}, "url": {"type": "string"},
                    "documents": {"type": "array", "items": {"type": "object"}}}},
                "Batch": {"type": "object", "required": ["id", "counts", "done"],
                          "properties": {"id": {"type": "string"},
                                         "counts": {"type": "object"},
                                         "done": {"type": "boolean"},
                                         "documents": {"type": "array",
                                                       "items": {"type": "object"}},
                                         "quarantine": {"type": "array",
                                                        "items": {"type": "object"}}}},
                "SearchResult": {"type": "object", "required": ["total", "hits"],
                                 "properties": {"total": {"type": "integer"},
                                                "total_estimated": {"type": "boolean"},
                                                "hits": {"type": "array",
                                                         "items": {"type": "object"}},
                                                "facets": {"type": "object"}}},
            },
        },
    }
