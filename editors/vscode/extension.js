// The rostermap extension: starts `rostermap lsp` and connects VS Code to it over
// stdio with vscode-languageclient. Diagnostics, hover, go to definition, completion
// and formatting are the server's; this file only starts and stops it. Plain
// JavaScript, so there is nothing to build: `npm install` fetches the client library.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("rostermap").get("server.path", "rostermap");
  const serverOptions = { command, args: ["lsp"], transport: TransportKind.stdio };
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
