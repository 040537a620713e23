export * from "./MediaType.ts";
export * from "./codecs.ts";
export * from "./documents.ts";
export * from "./Whiteout.ts";
export * from "./TarMembers.ts";
export * from "./Image.ts";
export * from "./Compression.ts";
