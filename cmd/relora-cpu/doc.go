// Command relora-cpu trains LLaMA models with ReLoRA on the CPU.
//
// It parses each command's flags and prints; what the commands do lives in
// the packages below it (relora/run, data, data/tokenizer, model, engine).
//
// Run "relora-cpu help" for the list of commands.
package main
