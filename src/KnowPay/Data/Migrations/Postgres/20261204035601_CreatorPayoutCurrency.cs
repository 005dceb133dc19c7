using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class CreatorPayoutCurrency : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "creator_currency",
                table: "orders",
                type: "character varying(3)",
                maxLength: 3,
                nullable: true);

            migrationBuilder.AddColumn<decimal>(
                name: "creator_fx_rate",
                table: "orders",
                type: "numeric(28,16)",
                precision: 28,
                scale: 16,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "payout_currency",
                table: "creators",
                type: "character varying(3)",
                maxLength: 3,
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "creator_currency",
                table: "orders");

            migrationBuilder.DropColumn(
                name: "creator_fx_rate",
                table: "orders");

            migrationBuilder.DropColumn(
                name: "payout_currency",
                table: "creators");
        }
    }
}
