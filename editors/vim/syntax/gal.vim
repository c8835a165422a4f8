" Vim syntax file
" Language:    Galette chain (.gal), see docs/language.md
" Filenames:   *.gal

if exists("b:current_syntax")
  finish
endif

let s:cpo_save = &cpo
set cpo&vim

syntax case match
syntax iskeyword @,48-57,_
" Chains are short: always parse from the top, so that multi-line block
" comments and fan-out blocks are never mistaken.
syntax sync fromstart

" A name that is not a keyword.
let s:name = '\%(\<\%(chain\|iface\|map\|nf\)\>\)\@!\<\h\w*'

" Characters that are no token (E0001). Defined first: anything below that
" matches at the same place wins.
syntax match galError "[^ \t\r\n\fA-Za-z0-9_\"=:,.{}<>\[\]@!/-]"
syntax match galError "-\%(>\)\@!"
syntax match galError "/\%([/*]\)\@!"

" Comments. Block comments do not nest: the first */ ends one.
syntax keyword galTodo contained TODO FIXME XXX NOTE
syntax match galLineComment "//.*$" contains=galTodo,@Spell
syntax region galBlockComment start="/\*" end="\*/" contains=galTodo,@Spell
syntax cluster galComments contains=galLineComment,galBlockComment

" Punctuation and numbers (map capacities: digits, with `_` after the first).
syntax match galPunctuation "[:,.]"
syntax match galBrace "[{}\[\]<>]"
syntax match galNumber "\<\d[0-9_]*"
" Strings: NF crate paths. A string the line ends in is E0001.
syntax match galUnclosedString +"[^"]*$+
syntax match galString +"[^"]*"+

" chain NAME
syntax keyword galChainKeyword chain nextgroup=galChainName skipwhite
execute 'syntax match galChainName contained "' . s:name . '"'

" iface ROLE
syntax keyword galIfaceKeyword iface nextgroup=galRoleName skipwhite
execute 'syntax match galRoleName contained "' . s:name . '"'

" map NAME: KIND<KEY, VALUE>[CAPACITY]
syntax keyword galMapKeyword map nextgroup=galMapName skipwhite
execute 'syntax match galMapName contained "' . s:name . '" nextgroup=galMapColon skipwhite skipnl skipempty'
syntax match galMapColon contained ":" nextgroup=galMapKind,galBadMapKind skipwhite skipnl skipempty
execute 'syntax match galBadMapKind contained "' . s:name . '" nextgroup=galTypeParams skipwhite skipnl skipempty'
syntax keyword galMapKind contained array hash lru_hash lpm_trie percpu_array percpu_hash nextgroup=galTypeParams skipwhite skipnl skipempty
syntax region galTypeParams contained matchgroup=galBrace start="<" end=">" end="\ze\<\%(chain\|iface\|map\|nf\)\>" contains=galPrimitiveType,galPrefixType,galTypeName,galPunctuation,@galComments,galError nextgroup=galCapacity skipwhite skipnl skipempty
execute 'syntax match galTypeName contained "' . s:name . '"'
syntax keyword galPrimitiveType contained u8 u16 u32 u64 u128 usize i8 i16 i32 i64 i128 isize bool
syntax keyword galPrefixType contained Ipv4Prefix Ipv6Prefix
syntax region galCapacity contained matchgroup=galBrace start="\[" end="\]" end="\ze\<\%(chain\|iface\|map\|nf\)\>" contains=galNumber,@galComments,galError

" nf NAME = std.NAME | "PATH"  [{ FIELD: MAP, ... }]  [@xdp | @userland]
syntax keyword galNfKeyword nf nextgroup=galNfName skipwhite
execute 'syntax match galNfName contained "' . s:name . '"'
syntax match galAssign "=" nextgroup=galStdSource,galOtherSource,galString,galUnclosedString skipwhite skipnl skipempty
syntax match galStdSource contained "\<std\s*\.\s*\h\w*" contains=galStd,galPunctuation nextgroup=galBindings skipwhite skipnl skipempty
syntax match galStd contained "\<std\>"
" `std` is the only library (E0004).
syntax match galOtherSource contained "\<\%(std\>\)\@!\h\w*\s*\.\s*\h\w*" contains=galBadLibrary,galPunctuation nextgroup=galBindings skipwhite skipnl skipempty
syntax match galBadLibrary contained "\<\h\w*\ze\s*\."
syntax region galBindings contained matchgroup=galBrace start="{" end="}" end="\ze\<\%(chain\|iface\|map\|nf\)\>" contains=galField,galPunctuation,@galComments,galError
execute 'syntax match galField contained "' . s:name . '\ze\s*:"'
" Any attribute but @xdp and @userland is E0113.
syntax match galAttribute "@"
syntax match galBadAttribute "@\s*\h\w*"
syntax match galAttribute "@\s*\%(xdp\|userland\)\>"

" Links: FROM -> DEST, FROM -> { PORT: DEST, ... }
syntax match galArrow "->" nextgroup=galFanOut skipwhite skipnl skipempty
syntax match galUpcall "!"
" tx, pass, drop and abort, but not as ports (after `.`, before `:`).
syntax match galDestination "\%(\.\s*\)\@<!\<\%(tx\|pass\|drop\|abort\)\>\%(\s*:\)\@!"
" rx, and rx.ROLE.
syntax match galRx "\%(\.\s*\)\@<!\<rx\>\%(\s*:\)\@!" nextgroup=galRoleDot skipwhite skipnl skipempty
syntax match galRoleDot contained "\." nextgroup=galRole skipwhite skipnl skipempty
execute 'syntax match galRole contained "' . s:name . '"'
" nf.PORT
execute 'syntax match galPort "\%(\<\h\w*\_s*\.\_s*\)\@<=' . s:name . '"'
syntax region galFanOut contained matchgroup=galBrace start="{" end="}" end="\ze\<\%(chain\|iface\|map\|nf\)\>" contains=galFanOutPort,galDestination,galRx,galUpcall,galArrow,galPunctuation,@galComments,galError
execute 'syntax match galFanOutPort contained "' . s:name . '\ze\s*:"'

highlight default link galError           Error
highlight default link galTodo            Todo
highlight default link galLineComment     Comment
highlight default link galBlockComment    Comment
highlight default link galPunctuation     Delimiter
highlight default link galBrace           Delimiter
highlight default link galNumber          Number
highlight default link galString          String
highlight default link galUnclosedString  Error
highlight default link galChainKeyword    Keyword
highlight default link galIfaceKeyword    Keyword
highlight default link galMapKeyword      Keyword
highlight default link galNfKeyword       Keyword
highlight default link galChainName       Type
highlight default link galRoleName        Identifier
highlight default link galMapName         Identifier
highlight default link galMapColon        Delimiter
highlight default link galMapKind         Structure
highlight default link galBadMapKind      Error
highlight default link galTypeName        Type
highlight default link galPrimitiveType   Type
highlight default link galPrefixType      Type
highlight default link galNfName          Function
highlight default link galAssign          Operator
highlight default link galStd             Include
highlight default link galStdSource       Type
highlight default link galOtherSource     Type
highlight default link galBadLibrary      Error
highlight default link galField           Identifier
highlight default link galAttribute       StorageClass
highlight default link galBadAttribute    Error
highlight default link galArrow           Operator
highlight default link galUpcall          Special
highlight default link galDestination     Constant
highlight default link galRx              Constant
highlight default link galRoleDot         Delimiter
highlight default link galRole            Identifier
highlight default link galPort            Identifier
highlight default link galFanOutPort      Identifier

let b:current_syntax = "gal"

let &cpo = s:cpo_save
unlet s:cpo_save
