/* The .gm grammar: a pure, reentrant bison parser building the AST of
 * compiler/ast.h. Statements end at a newline (the scanner drops newlines
 * inside ( ) and [ ]). A syntax error is reported and parsing resumes at the
 * next line; every value discarded on the way is freed by a %destructor. */
%define api.pure full
%define api.prefix {gm_}
%define api.location.type {ast_loc_t}
%define parse.error custom
%locations
%expect 0
%param {void *scanner}
%parse-param {gm_parse_ctx_t *ctx}

%code requires {
#include "ast.h"
#include "diag.h"

/* Deepest expression nesting the parser accepts; sema recurses on it. */
#define GM_MAX_EXPR_DEPTH 200
/* Deepest ( [ { nesting the scanner accepts. */
#define GM_MAX_NESTING 64

/* The scanner's state (flex's "extra"). */
typedef struct gm_lexer_state_s {
  diag_t *diag;
  int line, col;               /* where the next character is */
  int paren_depth;             /* open ( and [: newlines inside are spaces */
  int brace_depth;             /* open { */
  ast_loc_t braces[GM_MAX_NESTING];
  int at_line_start;           /* the next word may be a statement keyword */
  int dead;                    /* a fatal error: return end of file */
  int unterminated_reported;
  ast_loc_t paren_open;        /* the outermost open ( or [ */
  char last_open;              /* '(' or '[' */
  int eof_reported;            /* an unclosed ( was reported: no syntax error at the end */
  char last_text[48];          /* the text of the last token, for messages */
} gm_lexer_state_t;

typedef struct gm_parse_ctx_s {
  diag_t *diag;
  gm_lexer_state_t *lex;
  ast_program_t *program;
} gm_parse_ctx_t;
}

%code {
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "xalloc.h"
#define YYMALLOC xmalloc
#define YYFREE free
int gm_lex(GM_STYPE *lval, ast_loc_t *lloc, void *scanner);
static void gm_error(ast_loc_t *loc, void *scanner, gm_parse_ctx_t *ctx, const char *msg);

/* Expressions nest at most GM_MAX_EXPR_DEPTH deep: a fatal error past it. */
#define CHECK_DEPTH(e)                                                           \
  do {                                                                           \
    if ((e)->depth > GM_MAX_EXPR_DEPTH) {                                        \
      diag_fatal(ctx->diag, (e)->loc.first_line, (e)->loc.first_column, 1,       \
                 "expression nested too deeply (more than %d levels)",            \
                 GM_MAX_EXPR_DEPTH);                                             \
      ast_expr_destroy(e);                                                       \
      YYABORT;                                                                   \
    }                                                                            \
  } while (0)
}

%union {
  int64_t i;
  double f;
  char *s;
  ast_expr_t *e;
  ast_expr_list_t *el;
  ast_type_t *ty;
  ast_param_list_t *pl;
  ast_stmt_t *st;
  ast_stmt_list_t *sl;
}

%token END 0 "end of file"
%token NEWLINE "end of line"
%token <s> IDENT "identifier"
%token <s> STRING "string"
%token <i> INT "integer"
%token <f> FLOAT "number"
%token MODEL "'model'" CONST "'const'" SET "'set'" DIM "'dim'" BLOCK "'block'"
%token WEIGHT "'weight'" CACHE "'cache'" INPUT "'input'" OUTPUT "'output'"
%token RETURN "'return'" REPEAT "'repeat'" IN "'in'"
%token ARROW "'->'" DOTDOT "'..'"

%type <e> expr postfix primary
%type <el> args args1 dims idents
%type <ty> type
%type <pl> params params1
%type <st> stmt line opt_stmt
%type <sl> lines body

%destructor { free($$); } <s>
%destructor { ast_expr_destroy($$); } <e>
%destructor { ast_expr_list_destroy($$); } <el>
%destructor { ast_type_destroy($$); } <ty>
%destructor { ast_param_list_destroy($$); } <pl>
%destructor { ast_stmt_destroy($$); } <st>
%destructor { ast_stmt_list_destroy($$); } <sl>

%left '+' '-'
%left '*' '/' '%' '@'
%precedence NEG

%%

program:
  lines  { ctx->program = xcalloc(1, sizeof *ctx->program);
           ast_stmt_list_move(&ctx->program->stmts, $1); }
;

lines:
  %empty       { $$ = ast_stmt_list_create(); }
| lines line   { $$ = $1; if ($2) ast_stmt_list_push($$, $2);
                 if (diag_stopped(ctx->diag)) { ast_stmt_list_destroy($$); YYABORT; } }
;

line:
  NEWLINE       { $$ = NULL; }
| stmt NEWLINE  { $$ = $1; }
| error NEWLINE { $$ = NULL; yyerrok; }
;

opt_stmt:
  %empty { $$ = NULL; }
| stmt   { $$ = $1; }
;

body:
  '{' lines opt_stmt '}'  { $$ = $2; if ($3) ast_stmt_list_push($$, $3); }
;

stmt:
  MODEL IDENT
    { $$ = ast_stmt_create(AST_MODEL, @1);
      $$->name = $2; $$->name_loc = @2; }
| CONST IDENT '=' expr
    { $$ = ast_stmt_create(AST_CONST, @1);
      $$->name = $2; $$->name_loc = @2; $$->value = $4; }
| SET IDENT '=' expr
    { $$ = ast_stmt_create(AST_SET, @1);
      $$->name = $2; $$->name_loc = @2; $$->value = $4; }
| DIM idents
    { $$ = ast_stmt_create(AST_DIM, @1);
      $$->names = *$2; free($2); }
| BLOCK IDENT '(' params ')' ARROW type body
    { $$ = ast_stmt_create(AST_BLOCK, @1);
     
      $$->name = $2; $$->name_loc = @2; $$->params = *$4; free($4); $$->type = $7;
      ast_stmt_list_move(&$$->body, $8); }
| WEIGHT IDENT ':' type '=' STRING
    { $$ = ast_stmt_create(AST_WEIGHT, @1);
      $$->name = $2; $$->name_loc = @2; $$->type = $4; $$->pattern = $6; $$->pattern_loc = @6; }
| CACHE IDENT ':' type
    { $$ = ast_stmt_create(AST_CACHE, @1);
      $$->name = $2; $$->name_loc = @2; $$->type = $4; }
| INPUT IDENT ':' type
    { $$ = ast_stmt_create(AST_INPUT, @1);
      $$->name = $2; $$->name_loc = @2; $$->type = $4; }
| OUTPUT IDENT '=' expr
    { $$ = ast_stmt_create(AST_OUTPUT, @1);
      $$->name = $2; $$->name_loc = @2; $$->value = $4; }
| OUTPUT IDENT ':' type
    { $$ = ast_stmt_create(AST_OUTPUT, @1);
      $$->name = $2; $$->name_loc = @2; $$->type = $4; }
| OUTPUT IDENT ':' type '=' expr
    { $$ = ast_stmt_create(AST_OUTPUT, @1);
      $$->name = $2; $$->name_loc = @2; $$->type = $4; $$->value = $6; }
| IDENT '=' expr
    { $$ = ast_stmt_create(AST_ASSIGN, @1);
      $$->name = $1; $$->name_loc = @1; $$->value = $3; }
| RETURN expr
    { $$ = ast_stmt_create(AST_RETURN, @1);
      $$->value = $2; }
| REPEAT IDENT IN expr DOTDOT expr body
    { $$ = ast_stmt_create(AST_REPEAT, @1);
     
      $$->name = $2; $$->name_loc = @2; $$->value = $4; $$->hi = $6; ast_stmt_list_move(&$$->body, $7); }
;

idents:
  IDENT             { $$ = ast_expr_list_create();
                      ast_expr_list_push($$, ast_expr_name(@1, $1)); }
| idents ',' IDENT  { $$ = $1; ast_expr_list_push($$, ast_expr_name(@3, $3)); }
;

params:
  %empty   { $$ = ast_param_list_create(); }
| params1  { $$ = $1; }
;

params1:
  IDENT ':' type
    { $$ = ast_param_list_create();
      ast_param_list_push($$, $1, @1, $3); }
| params1 ',' IDENT ':' type
    { $$ = $1; ast_param_list_push($$, $3, @3, $5); }
;

type:
  IDENT '[' dims ']'  { $$ = ast_type_create(@$, $1, @1, 1, $3); }
| IDENT               { $$ = ast_type_create(@$, $1, @1, 0, NULL); }
| '[' dims ']'        { $$ = ast_type_create(@$, NULL, @1, 1, $2); }
;

dims:
  expr           { $$ = ast_expr_list_create();
                   ast_expr_list_push($$, $1); }
| dims ',' expr  { $$ = $1; ast_expr_list_push($$, $3); }
;

args:
  %empty  { $$ = ast_expr_list_create(); }
| args1   { $$ = $1; }
;

args1:
  expr            { $$ = ast_expr_list_create();
                    ast_expr_list_push($$, $1); }
| args1 ',' expr  { $$ = $1; ast_expr_list_push($$, $3); }
;

expr:
  expr '+' expr        { $$ = ast_expr_binary(@$, @2, '+', $1, $3); CHECK_DEPTH($$); }
| expr '-' expr        { $$ = ast_expr_binary(@$, @2, '-', $1, $3); CHECK_DEPTH($$); }
| expr '*' expr        { $$ = ast_expr_binary(@$, @2, '*', $1, $3); CHECK_DEPTH($$); }
| expr '/' expr        { $$ = ast_expr_binary(@$, @2, '/', $1, $3); CHECK_DEPTH($$); }
| expr '%' expr        { $$ = ast_expr_binary(@$, @2, '%', $1, $3); CHECK_DEPTH($$); }
| expr '@' expr        { $$ = ast_expr_binary(@$, @2, '@', $1, $3); CHECK_DEPTH($$); }
| '-' expr %prec NEG   { $$ = ast_expr_neg(@$, $2); CHECK_DEPTH($$); }
| postfix              { $$ = $1; }
;

postfix:
  primary             { $$ = $1; }
| postfix '.' IDENT   { $$ = ast_expr_member(@$, @3, $1, $3); CHECK_DEPTH($$); }
;

primary:
  INT                    { $$ = ast_expr_int(@1, $1); }
| FLOAT                  { $$ = ast_expr_float(@1, $1); }
| IDENT                  { $$ = ast_expr_name(@1, $1); }
| IDENT '(' args ')'     { $$ = ast_expr_call(@$, @1, $1, $3); CHECK_DEPTH($$); }
| '(' expr ')'           { $$ = $2; }
| '[' args ']'           { $$ = ast_expr_list(@$, $2); CHECK_DEPTH($$); }
;

%%

/* A token's name as the grammar spells it, without bison's quotes. */
static void symbol_text(char *buf, size_t size, const char *name) {
  size_t n = strlen(name);
  if (n >= 2 && name[0] == '"' && name[n - 1] == '"') {
    name++;
    n -= 2;
  }
  snprintf(buf, size, "%.*s", (int)n, name);
}

static int yyreport_syntax_error(const yypcontext_t *yyctx, void *scanner, gm_parse_ctx_t *ctx) {
  (void)scanner;
  enum { MAX_EXPECTED = 6 };
  yysymbol_kind_t expected[MAX_EXPECTED];
  int n = yypcontext_expected_tokens(yyctx, expected, MAX_EXPECTED);
  yysymbol_kind_t got = yypcontext_token(yyctx);
  if (ctx->lex->eof_reported && (got == YYSYMBOL_YYEOF || got == YYSYMBOL_NEWLINE)) return 0;
  const ast_loc_t *loc = yypcontext_location(yyctx);
  char msg[512], name[64];
  symbol_text(name, sizeof name, yysymbol_name(got));
  int len;
  if (got == YYSYMBOL_IDENT || got == YYSYMBOL_INT || got == YYSYMBOL_FLOAT || got == YYSYMBOL_STRING)
    len = snprintf(msg, sizeof msg, "syntax error: unexpected %s '%s'", name, ctx->lex->last_text);
  else
    len = snprintf(msg, sizeof msg, "syntax error: unexpected %s", name);
  /* n < 0: too many to list; n == 0: nothing fits. */
  for (int i = 0; i < n && len > 0 && (size_t)len < sizeof msg; i++) {
    symbol_text(name, sizeof name, yysymbol_name(expected[i]));
    len += snprintf(msg + len, sizeof msg - (size_t)len, "%s%s",
                    i == 0 ? ", expecting " : i == n - 1 ? " or " : ", ", name);
  }
  diag_error(ctx->diag, loc->first_line, loc->first_column, ast_loc_width(*loc), "%s", msg);
  return 0;
}

static void gm_error(ast_loc_t *loc, void *scanner, gm_parse_ctx_t *ctx, const char *msg) {
  (void)scanner;
  if (strcmp(msg, "memory exhausted") == 0)
    diag_fatal(ctx->diag, loc->first_line, loc->first_column, 1,
               "input too complex: the parser ran out of stack (nesting too deep)");
  else
    diag_error(ctx->diag, loc->first_line, loc->first_column, ast_loc_width(*loc), "%s", msg);
}
