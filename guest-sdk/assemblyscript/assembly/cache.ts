// Reads from the host's informer cache (wr.get / wr.list), with every host status as a typed result.

import { Kind } from "./kinds";
import {
  host_get,
  host_list,
  host_result_read,
  HOST_STATUS_DENIED,
  HOST_STATUS_INVALID_ARGUMENT,
  HOST_STATUS_NO_RESULT,
  HOST_STATUS_NOT_FOUND,
  HOST_STATUS_OK,
  HOST_STATUS_TOO_LARGE,
} from "./abi";
import { JsonDoc, JsonValue } from "./json/reader";
import { JsonWriter } from "./json/writer";

/** The outcome of one cache read: `ok` with a value, or a host status saying why not. */
export class ReadResult {
  /** HOST_STATUS_OK or one of the negative HOST_STATUS_* values. */
  status: i32;
  /** The object (get) or the array of objects (list); missing unless `ok`. */
  value: JsonValue;

  constructor(status: i32, value: JsonValue) {
    this.status = status;
    this.value = value;
  }

  get ok(): bool {
    return this.status == HOST_STATUS_OK;
  }
  get notFound(): bool {
    return this.status == HOST_STATUS_NOT_FOUND;
  }
  /** The module's declared permissions do not cover this kind or namespace. */
  get denied(): bool {
    return this.status == HOST_STATUS_DENIED;
  }
  get tooLarge(): bool {
    return this.status == HOST_STATUS_TOO_LARGE;
  }

  statusName(): string {
    if (this.status == HOST_STATUS_OK) return "ok";
    if (this.status == HOST_STATUS_NOT_FOUND) return "not found";
    if (this.status == HOST_STATUS_DENIED) return "denied";
    if (this.status == HOST_STATUS_INVALID_ARGUMENT) return "invalid argument";
    if (this.status == HOST_STATUS_TOO_LARGE) return "too large";
    if (this.status == HOST_STATUS_NO_RESULT) return "no result";
    return "status " + this.status.toString();
  }
}

const request = new JsonWriter();
const EMPTY_DOC = new JsonDoc(0, 0);

/** Starts a get/list request object: the kind, and the namespace unless it is empty (all or cluster-scoped). */
function beginRequest(apiVersion: string, kind: string, namespace: string): void {
  request.reset();
  request.beginObject();
  request.key("apiVersion");
  request.string(apiVersion);
  request.key("kind");
  request.string(kind);
  if (namespace.length > 0) {
    request.key("namespace");
    request.string(namespace);
  }
}

/** Read-only access to objects the host watches, limited to what the module declared. */
export class Cache {
  /** One object; an empty `namespace` addresses a cluster-scoped object. */
  get(apiVersion: string, kind: string, namespace: string, name: string): ReadResult {
    beginRequest(apiVersion, kind, namespace);
    request.key("name");
    request.string(name);
    request.endObject();
    return fetch(host_get(request.ptr, request.len));
  }

  /** All matching objects as a JSON array; empty `namespace` lists across namespaces. */
  list(apiVersion: string, kind: string, namespace: string = "", labelSelector: string = ""): ReadResult {
    beginRequest(apiVersion, kind, namespace);
    if (labelSelector.length > 0) {
      request.key("labelSelector");
      request.string(labelSelector);
    }
    request.endObject();
    return fetch(host_list(request.ptr, request.len));
  }

  /** get() with a typed kind. */
  getOf(kind: Kind, namespace: string, name: string): ReadResult {
    return this.get(kind.apiVersion, kind.kind, namespace, name);
  }

  /** list() with a typed kind, e.g. listOf(NAMESPACE, "", "team=edge"). */
  listOf(kind: Kind, namespace: string = "", labelSelector: string = ""): ReadResult {
    return this.list(kind.apiVersion, kind.kind, namespace, labelSelector);
  }
}

export const cache = new Cache();

function fetch(lengthOrStatus: i32): ReadResult {
  if (lengthOrStatus < 0) return new ReadResult(lengthOrStatus, new JsonValue(EMPTY_DOC, 0));
  // GC-owned, so the result lives exactly as long as the guest keeps a view of it.
  const buffer = new ArrayBuffer(lengthOrStatus);
  const copied = host_result_read(changetype<usize>(buffer), <usize>lengthOrStatus);
  if (copied < 0) return new ReadResult(copied, new JsonValue(EMPTY_DOC, 0));
  if (copied != lengthOrStatus) return new ReadResult(HOST_STATUS_NO_RESULT, new JsonValue(EMPTY_DOC, 0));
  const doc = JsonDoc.fromBuffer(buffer);
  const root = doc.root();
  if (doc.failed) return new ReadResult(HOST_STATUS_INVALID_ARGUMENT, new JsonValue(EMPTY_DOC, 0));
  return new ReadResult(HOST_STATUS_OK, root);
}
