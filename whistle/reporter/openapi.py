"""The OpenAPI 3.1 document of the reporter API, kept beside the views it describes."""

_B64U = {"type": "string", "pattern": "^[A-Za-z0-9_-]*$", "description": "base64url, no padding"}
_ERROR = {"description": "Error in the request's language",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_CREDENTIALS = {"type": "object", "required": ["locator", "lookup"], "properties": {
    "locator": {"type": "string", "pattern": "^[0-9]{7}$"},
    "lookup": dict(_B64U, description="32-byte lookup token derived from the receipt code")}}


def _json(schema_ref: str) -> dict:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}


def document() -> dict:
    """The whole OpenAPI document."""
    errors = {"400": _ERROR, "404": _ERROR, "413": _ERROR, "429": _ERROR}
    return {
        "openapi": "3.1.0",
        "info": {"title": "whistle reporter API", "version": "1",
                 "description": "Everything the reporter's browser does. Bodies are sealed in the "
                                "browser (crypto/FORMAT.md); the server sees ciphertext and enum routing."},
        "paths": {
            "/api/v1/catalog": {"get": {"summary": "Routing codes and labels, limits, receipt cost",
                                        "responses": {"200": {"description": "Catalogue",
                                                              "content": _json("Catalog")}}}},
            "/api/v1/recipients": {"post": {
                "summary": "Public keys a report with this routing header must be sealed to",
                "requestBody": {"required": True, "content": _json("RoutingHeader")},
                "responses": dict(errors, **{"200": {"description": "Recipients", "content": _json("Recipients")},
                                             "503": _ERROR})}},
            "/api/v1/locators": {"post": {
                "summary": "A random unused locator for a new receipt code, and the token to submit under it",
                "description": "The browser draws the secret digits itself and never sends them. The token is "
                               "accepted on the day it is issued and the next (server days), and only for "
                               "this locator (crypto/FORMAT.md §1).",
                "responses": dict(errors, **{"200": {"description": "Locator", "content": _json("Locator")}})}},
            "/api/v1/reports": {"post": {
                "summary": "Submit a report sealed in the browser, under a locator from /api/v1/locators",
                "requestBody": {"required": True, "content": {
                    "multipart/form-data": {"schema": {"type": "object", "required": ["submission"],
                                                       "properties": {"submission": {"type": "string",
                                                                                     "description": "JSON ReportSubmission"}},
                                                       "additionalProperties": {"type": "string", "format": "binary",
                                                                                "description": "attachment stream, part named by its 32-hex id"}}},
                    "application/json": {"schema": {"$ref": "#/components/schemas/ReportSubmission"}}}},
                "responses": dict(errors, **{"201": {"description": "Stored", "content": _json("Received")},
                                             "409": dict(_ERROR, description="The locator was taken after it "
                                                                             "was issued: ask for another"),
                                             "503": _ERROR})}},
            "/api/v1/receipts/{locator}/salt": {"get": {
                "summary": "Salt and cost to stretch a receipt code (a stable fake salt, and a cost drawn "
                           "from those of existing cases, for unknown locators)",
                "parameters": [{"name": "locator", "in": "path", "required": True,
                                "schema": {"type": "string", "pattern": "^[0-9]{7}$"}}],
                "responses": dict(errors, **{"200": {"description": "Salt", "content": _json("Salt")}})}},
            "/api/v1/followup": {"post": {
                "summary": "Timeline and conversation of the case a lookup token opens",
                "requestBody": {"required": True, "content": _json("Credentials")},
                "responses": dict(errors, **{"200": {"description": "Case", "content": _json("CaseView")}})}},
            "/api/v1/followup/messages": {"post": {
                "summary": "Add a message sealed in the browser",
                "requestBody": {"required": True, "content": {
                    "multipart/form-data": {"schema": {"type": "object", "required": ["submission"],
                                                       "properties": {"submission": {"type": "string",
                                                                                     "description": "JSON MessageSubmission"}}}},
                    "application/json": {"schema": {"$ref": "#/components/schemas/MessageSubmission"}}}},
                "responses": dict(errors, **{"201": {"description": "Stored"}})}},
            "/api/v1/followup/attachments/{attachment_id}": {"post": {
                "summary": "Ciphertext of an attachment the reporter can read",
                "parameters": [{"name": "attachment_id", "in": "path", "required": True,
                                "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}],
                "requestBody": {"required": True, "content": _json("Credentials")},
                "responses": dict(errors, **{"200": {"description": "Attachment stream",
                                                     "content": {"application/octet-stream": {
                                                         "schema": {"type": "string", "format": "binary"}}}}})}},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error", "message"],
                      "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
            "RoutingHeader": {"type": "object", "required": ["channel", "department", "category", "accused_rank",
                                                             "money_band", "frequency", "evidence"],
                              "additionalProperties": False,
                              "properties": {k: {"type": "string"} for k in (
                                  "channel", "department", "category", "accused_rank", "money_band",
                                  "frequency", "evidence")}},
            "Recipients": {"type": "object", "properties": {"recipients": {"type": "array", "items": {
                "type": "object", "properties": {"kid": {"type": "string"}, "public_key": _B64U,
                                                 "label": {"type": "string"}}}}}},
            "Envelope": {"type": "object", "description": "crypto/FORMAT.md §3",
                         "required": ["v", "kind", "header", "recipients", "nonce", "body"],
                         "properties": {"v": {"const": 1}, "kind": {"enum": ["report", "message", "reply"]},
                                        "header": {"type": "object"},
                                        "recipients": {"type": "array", "items": {"type": "object",
                                                                                  "properties": {"kid": _B64U, "key": _B64U}}},
                                        "nonce": _B64U, "body": _B64U}},
            "Locator": {"type": "object", "required": ["locator", "token"], "properties": {
                "locator": {"type": "string", "pattern": "^[0-9]{7}$"},
                "token": dict(_B64U, description="HMAC binding the locator to the day it was issued")}},
            "ReportSubmission": {"type": "object", "required": ["locator", "locator_token", "salt", "kdf", "lookup",
                                                                "reporter_public_key", "envelope"],
                                 "properties": {"locator": {"type": "string", "pattern": "^[0-9]{7}$",
                                                            "description": "issued by /api/v1/locators"},
                                                "locator_token": dict(_B64U, description="the token issued with the locator"),
                                                "salt": _B64U, "lookup": _B64U, "reporter_public_key": _B64U,
                                                "kdf": {"type": "object", "required": ["opslimit", "memlimit"],
                                                        "description": "exactly the site's receipt cost (/api/v1/catalog)",
                                                        "properties": {"opslimit": {"type": "integer"},
                                                                       "memlimit": {"type": "integer"}}},
                                                "envelope": {"$ref": "#/components/schemas/Envelope"}}},
            "MessageSubmission": {"allOf": [{"$ref": "#/components/schemas/Credentials"}, {
                "type": "object", "required": ["envelope"],
                "properties": {"envelope": {"$ref": "#/components/schemas/Envelope"}}}]},
            "Credentials": _CREDENTIALS,
            "Received": {"type": "object", "properties": {"received_on": {"type": "string", "format": "date"}}},
            "Salt": {"type": "object", "properties": {"salt": _B64U, "opslimit": {"type": "integer"},
                                                      "memlimit": {"type": "integer"}}},
            "Catalog": {"type": "object"},
            "CaseView": {"type": "object", "properties": {
                "case": {"type": "string"}, "status": {"type": "string"}, "status_label": {"type": "string"},
                "received_on": {"type": "string", "format": "date"},
                "timeline": {"type": "array", "items": {"type": "object"}},
                "items": {"type": "array", "items": {"type": "object"}},
                "recipients": {"$ref": "#/components/schemas/Recipients/properties/recipients"}}},
        }},
    }
