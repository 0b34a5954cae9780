// The rostermap extension: starts `rostermap lsp` and connects VS Code to it over
// stdio with vscode-languageclient. Diagnostics, hover, go to definition, completion
// and formatting are the server's; this file only starts and stops it. Plain
// JavaScript, so there is nothing to build: `npm install` fetches the client library.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("rostermap").get("server.path", "rostermap");
  // No `transport`: the client then speaks over the process's stdio without adding
  // the `--stdio` flag (which `rostermap lsp` accepts anyway, for clients that do).
  const serverOptions = { command, args: ["lsp"] };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "rostermap" },
      { scheme: "untitled", language: "rostermap" },
    ],
  };
  client = new LanguageClient("rostermap", "rostermap", serverOptions, clientOptions);
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
