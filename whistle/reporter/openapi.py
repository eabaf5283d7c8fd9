"""The OpenAPI 3.1 document of the reporter API, kept beside the views it describes."""

_B64U = {"type": "string", "pattern": "^[A-Za-z0-9_-]*$", "description": "base64url, no padding"}
_ERROR = {
    "description": "Error in the request's language",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_CREDENTIALS = {
    "type": "object",
    "required": ["locator", "lookup"],
    "properties": {
        "locator": {"type": "string", "pattern": "^[0-9]{7}$"},
        "lookup": dict(_B64U, description="32-byte lookup token derived from the receipt code"),
    },
}


def _json(schema_ref: str) -> dict:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}


def document() -> dict:
    """The whole OpenAPI document."""
    errors = {"400": _ERROR, "404": _ERROR, "413": _ERROR, "429": _ERROR}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "whistle reporter API",
            "version": "1",
            "description": "Everything the reporter's browser does. Bodies are sealed in the "
            "browser (crypto/FORMAT.md); the server sees ciphertext and enum routing.",
        },
        "paths": {
            "/api/v1/catalog": {
                "get": {
                    "summary": "Routing codes and labels, limits, receipt cost",
                    "responses": {"200": {"description": "Catalogue", "content": _json("Catalog")}},
                }
            },
            "/api/v1/recipients": {
                "post": {
                    "summary": "Public keys a report with this routing header must be sealed to",
                    "description": "Also the keys a real-name reporter's identity is sealed to "
                    "(identity_recipients: the committee key and the custodians, never the "
                    "routed members). For a comment on a notice (channel notice), 409 when "
                    "its window is not open.",
                    "requestBody": {"required": True, "content": _json("RoutingHeader")},
                    "responses": dict(
                        errors,
                        **{
                            "200": {"description": "Recipients", "content": _json("Recipients")},
                            "409": dict(_ERROR, description="The notice's comment window is not open"),
                            "503": _ERROR,
                        },
                    ),
                }
            },
            "/api/v1/locators": {
                "post": {
                    "summary": "A random unused locator for a new receipt code, and the token to submit under it",
                    "description": "The browser draws the secret digits itself and never sends them. The token is "
                    "accepted on the day it is issued and the next (server days), and only for "
                    "this locator (crypto/FORMAT.md §1).",
                    "responses": dict(errors, **{"200": {"description": "Locator", "content": _json("Locator")}}),
                }
            },
            "/api/v1/pow": {
                "post": {
                    "summary": "A proof-of-work challenge (crypto/FORMAT.md §7)",
                    "description": "Reports, follow-up messages and survey answers each carry a solved "
                    "challenge as pow: {challenge, nonce}, where BLAKE2b-256(challenge || ':' "
                    "|| nonce) starts with `bits` zero bits. A challenge is good on the server's "
                    "UTC day it names and the next, once. The no-JavaScript forms need none but "
                    "have a stricter rate limit.",
                    "responses": dict(
                        errors, **{"200": {"description": "Challenge", "content": _json("PowChallenge")}}
                    ),
                }
            },
            "/api/v1/surveys/{survey_id}": {
                "get": {
                    "summary": "A survey's questions, whether it takes answers today, and (while it does) the keys "
                    "its written answers are sealed to",
                    "parameters": [
                        {
                            "name": "survey_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                        }
                    ],
                    "responses": dict(errors, **{"200": {"description": "Survey", "content": _json("Survey")}}),
                }
            },
            "/api/v1/surveys/{survey_id}/responses": {
                "post": {
                    "summary": "Answer a survey: closed answers as small integers, written answers sealed in the "
                    "browser (envelope kind survey, header {survey: id}), and a proof of work",
                    "description": "Nothing identifies the response; the answer says only whether to offer a "
                    "full report (a bribery question answered yes).",
                    "parameters": [
                        {
                            "name": "survey_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                        }
                    ],
                    "requestBody": {"required": True, "content": _json("SurveyResponse")},
                    "responses": dict(
                        errors,
                        **{
                            "201": {"description": "Stored", "content": _json("SurveyStored")},
                            "409": dict(_ERROR, description="The survey is not taking answers"),
                            "503": _ERROR,
                        },
                    ),
                }
            },
            "/api/v1/surveys/{survey_id}/results": {
                "get": {
                    "summary": 'Published results of a survey; counts below the rules\' min_cell are "<k", '
                    'complementary ones "withheld"',
                    "parameters": [
                        {
                            "name": "survey_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                        }
                    ],
                    "responses": dict(errors, **{"200": {"description": "Results", "content": _json("Object")}}),
                }
            },
            "/api/v1/reports": {
                "post": {
                    "summary": "Submit a report sealed in the browser, under a locator from /api/v1/locators",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["submission"],
                                    "properties": {
                                        "submission": {"type": "string", "description": "JSON ReportSubmission"}
                                    },
                                    "additionalProperties": {
                                        "type": "string",
                                        "format": "binary",
                                        "description": "attachment stream, part named by its 32-hex id",
                                    },
                                }
                            },
                            "application/json": {"schema": {"$ref": "#/components/schemas/ReportSubmission"}},
                        },
                    },
                    "responses": dict(
                        errors,
                        **{
                            "201": {"description": "Stored", "content": _json("Received")},
                            "409": dict(
                                _ERROR,
                                description="The locator was taken after it "
                                "was issued: ask for another "
                                "(error locator_taken), or the "
                                "notice's comment window is not "
                                "open (notice_closed, "
                                "notice_not_open)",
                            ),
                            "503": _ERROR,
                        },
                    ),
                }
            },
            "/api/v1/receipts/{locator}/salt": {
                "get": {
                    "summary": "Salt and cost to stretch a receipt code (a stable fake salt, and a cost drawn "
                    "from those of existing cases, for unknown locators)",
                    "parameters": [
                        {
                            "name": "locator",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9]{7}$"},
                        }
                    ],
                    "responses": dict(errors, **{"200": {"description": "Salt", "content": _json("Salt")}}),
                }
            },
            "/api/v1/followup": {
                "post": {
                    "summary": "Timeline and conversation of the case a lookup token opens",
                    "requestBody": {"required": True, "content": _json("Credentials")},
                    "responses": dict(errors, **{"200": {"description": "Case", "content": _json("CaseView")}}),
                }
            },
            "/api/v1/followup/messages": {
                "post": {
                    "summary": "Add a message sealed in the browser",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["submission"],
                                    "properties": {
                                        "submission": {"type": "string", "description": "JSON MessageSubmission"}
                                    },
                                }
                            },
                            "application/json": {"schema": {"$ref": "#/components/schemas/MessageSubmission"}},
                        },
                    },
                    "responses": dict(
                        errors,
                        **{
                            "201": {"description": "Stored", "content": _json("MessageStored")},
                            "400": dict(
                                _ERROR,
                                description="Malformed, or (error "
                                "recipients_changed) not sealed to "
                                "exactly the case's recipients of "
                                "now: read them again "
                                "(/api/v1/followup) and seal again",
                            ),
                            "409": dict(
                                _ERROR,
                                description="The case's records were deleted "
                                "(error case_purged): it takes "
                                "no more messages",
                            ),
                            "503": _ERROR,
                        },
                    ),
                }
            },
            "/api/v1/followup/attachments/{attachment_id}": {
                "post": {
                    "summary": "Ciphertext of an attachment the reporter can read",
                    "parameters": [
                        {
                            "name": "attachment_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                        }
                    ],
                    "requestBody": {"required": True, "content": _json("Credentials")},
                    "responses": dict(
                        errors,
                        **{
                            "200": {
                                "description": "Attachment stream",
                                "content": {
                                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                                },
                            }
                        },
                    ),
                }
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                },
                "RoutingHeader": {
                    "type": "object",
                    "required": [
                        "channel",
                        "department",
                        "category",
                        "accused_rank",
                        "money_band",
                        "frequency",
                        "evidence",
                    ],
                    "additionalProperties": False,
                    "description": "notice: required for channel notice (the notice's id), "
                    "forbidden for every other channel",
                    "properties": dict(
                        {
                            k: {"type": "string"}
                            for k in (
                                "channel",
                                "department",
                                "category",
                                "accused_rank",
                                "money_band",
                                "frequency",
                                "evidence",
                            )
                        },
                        notice={"type": "string", "pattern": "^[0-9a-f]{32}$"},
                    ),
                },
                "Recipients": {
                    "type": "object",
                    "properties": {
                        "recipients": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "kid": {"type": "string"},
                                    "public_key": _B64U,
                                    "label": {"type": "string"},
                                },
                            },
                        },
                        "identity_recipients": {"$ref": "#/components/schemas/Recipients/properties/recipients"},
                    },
                },
                "Envelope": {
                    "type": "object",
                    "description": "crypto/FORMAT.md §3",
                    "required": ["v", "kind", "header", "recipients", "nonce", "body"],
                    "properties": {
                        "v": {
                            "enum": [1, 2],
                            "description": "2 for every new envelope (a report's "
                            "header then binds the reporter key, rk); 1 only "
                            "in items stored before version 2",
                        },
                        "kind": {"enum": ["report", "message", "reply", "identity", "survey"]},
                        "header": {"type": "object"},
                        "recipients": {
                            "type": "array",
                            "items": {"type": "object", "properties": {"kid": _B64U, "key": _B64U}},
                        },
                        "nonce": _B64U,
                        "body": _B64U,
                    },
                },
                "Locator": {
                    "type": "object",
                    "required": ["locator", "token"],
                    "properties": {
                        "locator": {"type": "string", "pattern": "^[0-9]{7}$"},
                        "token": dict(_B64U, description="HMAC binding the locator to the day it was issued"),
                    },
                },
                "ReportSubmission": {
                    "type": "object",
                    "required": [
                        "locator",
                        "locator_token",
                        "salt",
                        "kdf",
                        "lookup",
                        "reporter_public_key",
                        "envelope",
                        "pow",
                    ],
                    "properties": {
                        "locator": {
                            "type": "string",
                            "pattern": "^[0-9]{7}$",
                            "description": "issued by /api/v1/locators",
                        },
                        "locator_token": dict(_B64U, description="the token issued with the locator"),
                        "pow": {"$ref": "#/components/schemas/ProofOfWork"},
                        "salt": _B64U,
                        "lookup": _B64U,
                        "reporter_public_key": _B64U,
                        "kdf": {
                            "type": "object",
                            "required": ["opslimit", "memlimit"],
                            "description": "exactly the site's receipt cost (/api/v1/catalog)",
                            "properties": {"opslimit": {"type": "integer"}, "memlimit": {"type": "integer"}},
                        },
                        "envelope": {"$ref": "#/components/schemas/Envelope"},
                        "identity": dict(
                            {"$ref": "#/components/schemas/Envelope"},
                            description="optional: a real-name reporter's "
                            "name and contact, kind identity, "
                            "header {report: the envelope's "
                            "nonce}, sealed to "
                            "identity_recipients only",
                        ),
                    },
                },
                "MessageSubmission": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Credentials"},
                        {
                            "type": "object",
                            "required": ["envelope", "pow"],
                            "properties": {
                                "envelope": {"$ref": "#/components/schemas/Envelope"},
                                "pow": {"$ref": "#/components/schemas/ProofOfWork"},
                            },
                        },
                    ]
                },
                "Credentials": _CREDENTIALS,
                "Object": {"type": "object"},
                "PowChallenge": {
                    "type": "object",
                    "required": ["challenge", "bits", "algorithm"],
                    "properties": {
                        "challenge": {"type": "string"},
                        "bits": {"type": "integer", "minimum": 0, "maximum": 32},
                        "algorithm": {"const": "blake2b-256"},
                    },
                },
                "ProofOfWork": {
                    "type": "object",
                    "required": ["challenge", "nonce"],
                    "properties": {
                        "challenge": {"type": "string", "description": "from /api/v1/pow"},
                        "nonce": {"type": "string", "pattern": "^[0-9]{1,16}$"},
                    },
                },
                "Survey": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "title": {"type": "string"},
                        "intro": {"type": "string"},
                        "period_start": {"type": "string", "format": "date"},
                        "period_end": {"type": "string", "format": "date"},
                        "accepting": {"type": "boolean"},
                        "published": {"type": "boolean"},
                        "items": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "index": {"type": "integer"},
                                    "kind": {"enum": ["likert", "yes_no", "choice", "free_text"]},
                                    "text": {"type": "string"},
                                    "bribery": {"type": "boolean"},
                                    "values": {"type": "array", "items": {"type": "object"}},
                                },
                            },
                        },
                        "recipients": {"$ref": "#/components/schemas/Recipients/properties/recipients"},
                    },
                },
                "SurveyResponse": {
                    "type": "object",
                    "required": ["pow"],
                    "properties": {
                        "answers": {
                            "type": "object",
                            "description": "item index (string) -> value: likert 1-5, yes 1 / no 0, the option's index",
                            "additionalProperties": {"type": "integer"},
                        },
                        "envelope": dict(
                            {"$ref": "#/components/schemas/Envelope"},
                            description="optional: the written answers, {answers: [{item, text}]}",
                        ),
                        "pow": {"$ref": "#/components/schemas/ProofOfWork"},
                    },
                },
                "SurveyStored": {"type": "object", "properties": {"offer_report": {"type": "boolean"}}},
                "Received": {"type": "object", "properties": {"received_on": {"type": "string", "format": "date"}}},
                "MessageStored": {
                    "type": "object",
                    "required": ["id", "seq", "on"],
                    "properties": {
                        "id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                        "seq": {"type": "integer", "minimum": 1},
                        "on": {"type": "string", "format": "date"},
                    },
                },
                "Salt": {
                    "type": "object",
                    "properties": {"salt": _B64U, "opslimit": {"type": "integer"}, "memlimit": {"type": "integer"}},
                },
                "Catalog": {"type": "object"},
                "CaseView": {
                    "type": "object",
                    "properties": {
                        "case": {"type": "string"},
                        "status": {"type": "string"},
                        "status_label": {"type": "string"},
                        "received_on": {"type": "string", "format": "date"},
                        "timeline": {"type": "array", "items": {"type": "object"}},
                        "steps": {
                            "type": "array",
                            "description": "received, acknowledged, decision, feedback, closed: "
                            "done, on, detail, due (a step not taken), due_text, "
                            "overdue, current",
                            "items": {"type": "object"},
                        },
                        "deadlines": {
                            "type": "object",
                            "description": "the committee's own deadlines and whether "
                            "each was missed (result_notice_*: a closed "
                            "real-name case only)",
                            "required": ["acknowledge_by", "feedback_by", "acknowledge_overdue", "feedback_overdue"],
                            "properties": {
                                "acknowledge_by": {"type": ["string", "null"], "format": "date"},
                                "feedback_by": {"type": ["string", "null"], "format": "date"},
                                "result_notice_by": {"type": "string", "format": "date"},
                                "acknowledge_overdue": {"type": "boolean"},
                                "feedback_overdue": {"type": "boolean"},
                                "result_notice_overdue": {"type": "boolean"},
                            },
                        },
                        "items": {"type": "array", "items": {"type": "object"}},
                        "recipients": {"$ref": "#/components/schemas/Recipients/properties/recipients"},
                    },
                },
            }
        },
    }
