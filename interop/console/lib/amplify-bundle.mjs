// The `aws-amplify` package (v6, pinned in package.json and package-lock.json) bundled for the
// browser by esbuild (pinned the same way) from node_modules, as an app's build would bundle it:
// one script that puts Amplify, its Auth API and Hub on `window.amplify`. Nothing is fetched.

import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const HERE = fileURLToPath(new URL("..", import.meta.url));

const ENTRY = `
import { Amplify } from "aws-amplify";
import { fetchAuthSession, getCurrentUser, signInWithRedirect, signOut } from "aws-amplify/auth";
import { Hub } from "aws-amplify/utils";
window.amplify = { Amplify, fetchAuthSession, getCurrentUser, signInWithRedirect, signOut, Hub };
`;

/** The version of aws-amplify installed (package.json pins it). */
export function amplifyVersion() {
  return createRequire(import.meta.url)("aws-amplify/package.json").version;
}

/** The browser bundle's source (an IIFE). */
export async function amplifyBundle() {
  const out = await build({
    stdin: { contents: ENTRY, resolveDir: HERE, sourcefile: "amplify-app.js", loader: "js" },
    bundle: true,
    format: "iife",
    platform: "browser",
    target: ["chrome120"],
    minify: true,
    write: false,
    logLevel: "silent",
    define: { "process.env.NODE_ENV": '"production"' },
  });
  return out.outputFiles[0].text;
}
